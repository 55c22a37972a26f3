//! The tokio quick start on smol: a pool shared by many tasks, STARTTLS
//! with a custom CA, AUTH, message-level sends with the pool's retries,
//! and every recipient accounted for.
//!
//! `cargo run -p smtpkit-smol --example smol_pool`

use smtpkit_smol::{ClientSettings, Pool, PoolConfig, Protocol};
use smtpkit_testserver::{Action, Script, TestCa, TestServer, When};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ca = TestCa::new(&["localhost"])?;
    let server = TestServer::start(
        Script::new()
            .starttls(&ca)?
            .auth(["PLAIN"], &[("alice", "secret")])
            .rule(
                When::RcptTo("user7@example.net".into()),
                Action::reply("550 5.1.1 no such user\r\n"),
            ),
    )?;
    smol::block_on(async {
        let mut settings = ClientSettings::new(Protocol::Smtp, "localhost");
        settings.port = Some(server.addr().port());
        settings.tls.trust_ca_pem(ca.ca_pem.clone(), false);
        settings.auth.login("alice", "secret");
        let pool = Pool::new(settings, PoolConfig::default());
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let pool = pool.clone();
                smol::spawn(async move {
                    let message = format!(
                        "From: me@example.org\r\nTo: user{i}@example.net\r\nSubject: {i}\r\n\r\nHi.\r\n"
                    );
                    pool.send_message(message.into_bytes()).await
                })
            })
            .collect();
        let (mut delivered, mut refused) = (0, 0);
        for task in tasks {
            let report = task.await?;
            delivered += report.delivered().count();
            refused += report.rejected().count();
        }
        pool.close().await;
        println!("delivered to {delivered}, refused {refused}");
        assert_eq!((delivered, refused), (49, 1));
        Ok::<(), smtpkit_smol::Error>(())
    })?;
    assert_eq!(server.transactions().len(), 49);
    Ok(())
}
