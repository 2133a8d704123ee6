//! Fuzzes the TCG event-log, CCEL and IMA parsers and replay: any input must
//! give a value or an error, never a panic or a runaway allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(log) = rootline_eventlog::EventLog::parse(data) {
        let _ = log.replay();
        for e in log.events() {
            let _ = e.describe();
        }
    }
    let _ = rootline_eventlog::ima::ImaLog::parse(data);
});
