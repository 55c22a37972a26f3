//! The README's tokio quick start, run against the in-process test
//! server: a pool shared by many tasks, message-level sends.
//!
//! `cargo run -p smtpkit-tokio --example tokio_quickstart`

use smtpkit_testserver::{Script, TestCa, TestServer};
use smtpkit_tokio::{ClientSettings, Pool, PoolConfig, Protocol};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ca = TestCa::new(&["localhost"])?;
    let server = TestServer::start(Script::new().starttls(&ca)?)?;

    // --- the quick start ---
    let mut settings = ClientSettings::new(Protocol::Smtp, "localhost"); // STARTTLS, verified
    settings.port = Some(server.addr().port());
    settings.tls.trust_ca_pem(ca.ca_pem.clone(), false);
    let pool = Pool::new(settings, PoolConfig::default());

    let mut tasks = Vec::new();
    for i in 0..100 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let message = format!(
                "From: me@example.org\r\nTo: user{i}@example.net\r\nSubject: {i}\r\n\r\nHi.\r\n"
            );
            let mut connection = pool.get().await?;
            connection.send_message(message.into_bytes()).await
        }));
    }
    let mut delivered = 0;
    for task in tasks {
        delivered += task.await?.map(|report| report.delivered().count())?;
    }
    pool.close().await;
    println!("delivered to {delivered} recipients");
    // --- end ---

    assert_eq!(server.transactions().len(), 100);
    Ok(())
}
