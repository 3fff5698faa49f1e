//! A fresh PostgreSQL database per test (127.0.0.1:5432 or ARKISTO_TEST_PG_URL), dropped
//! when the test ends. Under CI=true a missing PostgreSQL fails the test.
#![allow(dead_code)]

/// Admin connection for creating the per-run database.
pub fn pg_admin_url() -> String {
    std::env::var("ARKISTO_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh, empty PostgreSQL database; its URL. Fails under CI when PostgreSQL is missing.
pub fn fresh_pg() -> Option<String> {
    let admin = pg_admin_url();
    let name = format!("arkisto_t_{}", ulid::Ulid::new().to_string().to_lowercase());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let made = rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&admin).await?;
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut c).await?;
        Ok::<_, sqlx::Error>(())
    });
    match made {
        Ok(()) => Some(format!("{}/{name}", admin.rsplit_once('/').map(|(a, _)| a).unwrap_or(&admin))),
        Err(e) => {
            assert!(std::env::var("CI").is_err(), "PostgreSQL at {admin} is not available ({e}); under CI=true this test must not skip");
            eprintln!("SKIPPED: PostgreSQL at {admin} is not available ({e})");
            None
        }
    }
}

/// Drops the per-run database when the test ends (pass or fail).
pub struct DropDb(pub String);
impl Drop for DropDb {
    fn drop(&mut self) {
        let Some((_, name)) = self.0.rsplit_once('/') else { return };
        let (admin, name) = (pg_admin_url(), name.to_string());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().ok()?;
            rt.block_on(async {
                use sqlx::Connection;
                let mut c = sqlx::PgConnection::connect(&admin).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut c).await.ok()
            })
        })
        .join();
    }
}
