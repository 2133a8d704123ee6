//! TCG event logs: parse, replay, explain.
