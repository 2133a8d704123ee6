//! The numbered migrations, portable between SQLite and PostgreSQL.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// The numbered migrations, embedded at build time (no database needed).
pub(super) fn migrator() -> Migrator {
    let m = |version, desc: &'static str, sql: &'static str| {
        Migration::new(
            version,
            Cow::Borrowed(desc),
            MigrationType::Simple,
            sql.into_sql_str(),
            false,
        )
    };
    Migrator::with_migrations(vec![
        m(
            1,
            "initial",
            include_str!("../../migrations/0001_initial.sql"),
        ),
        m(
            2,
            "config revision",
            include_str!("../../migrations/0002_config_revision.sql"),
        ),
        m(
            3,
            "shared collateral",
            include_str!("../../migrations/0003_collateral.sql"),
        ),
        m(
            4,
            "reference value versions",
            include_str!("../../migrations/0004_reference_versions.sql"),
        ),
        m(
            5,
            "web view",
            include_str!("../../migrations/0005_web_view.sql"),
        ),
    ])
}
