use bb8_postgres::PostgresConnectionManager;
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args().nth(1).unwrap_or_else(|| "host=127.0.0.1 port=55432 user=signet dbname=bench".into());
    let cfg: tokio_postgres::Config = url.parse()?;
    let mgr = PostgresConnectionManager::new(cfg, tokio_postgres::NoTls);
    let pool = bb8::Pool::builder().max_size(4).build(mgr).await?;
    let mut c = pool.get().await?;
    let tx = c.transaction().await?;
    let n: i64 = tx.query_one("SELECT $1::bigint + 1", &[&41i64]).await?.get(0);
    tx.commit().await?;
    println!("{n}");
    Ok(())
}
