use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
#[tokio::main]
async fn main() -> Result<(), sqlx::Error> {
    let url = std::env::args().nth(1).unwrap_or_else(|| "postgres://signet@127.0.0.1:55432/bench".into());
    let opts: PgConnectOptions = url.parse()?;
    let pool = PgPoolOptions::new().max_connections(4).connect_with(opts).await?;
    let mut tx = pool.begin().await?;
    let n: i64 = sqlx::query_scalar("SELECT $1::bigint + 1").bind(41i64).fetch_one(&mut *tx).await?;
    tx.commit().await?;
    println!("{n}");
    Ok(())
}
