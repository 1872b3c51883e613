use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::sync::Arc;
// verify-full: only the CA in the given PEM file is trusted; rustls checks the host name
// that tokio-postgres passes for each host it tries.
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args().nth(1).unwrap_or_else(|| "host=localhost port=55432 user=signet dbname=bench sslmode=require".into());
    let ca = std::env::args().nth(2).unwrap_or_else(|| "/tmp/pgb/tls/ca.pem".into());
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::pem::PemObject::pem_file_iter(&ca)? {
        roots.add(c?)?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls);
    let cfg: tokio_postgres::Config = url.parse()?;
    let mgr = Manager::from_config(cfg, tls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    let pool = Pool::builder(mgr).max_size(4).build()?;
    let mut c = pool.get().await?;
    let tx = c.transaction().await?;
    let n: i64 = tx.query_one("SELECT $1::bigint + 1", &[&41i64]).await?.get(0);
    let ssl: bool = tx.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await?.get(0);
    tx.commit().await?;
    println!("{n} ssl={ssl}");
    Ok(())
}
