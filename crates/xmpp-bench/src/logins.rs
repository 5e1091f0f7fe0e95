//! `logins`: N workers each repeatedly connect, log in, bind and close.

use std::time::{Duration, Instant};

use crate::session::{self, LoginSpec, Mech};
use crate::stats::{Errors, Samples};

pub struct Args {
    pub addr: String,
    pub domain: String,
    pub mech: Mech,
    pub user_prefix: String,
    pub users: usize,
    pub password: String,
    pub concurrency: usize,
    pub duration: Duration,
    pub timeout: Duration,
}

pub struct Outcome {
    pub ok: u64,
    pub errors: Errors,
    pub close_errors: Errors,
    pub latency: Samples,
    pub elapsed: Duration,
}

pub async fn run(a: Args) -> Outcome {
    let start = Instant::now();
    let end = start + a.duration;
    let mut tasks = Vec::new();
    for w in 0..a.concurrency {
        let spec = LoginSpec {
            addr: a.addr.clone(),
            domain: a.domain.clone(),
            mech: a.mech,
            user: format!("{}{}", a.user_prefix, w % a.users.max(1)),
            password: a.password.clone(),
            timeout: a.timeout,
        };
        tasks.push(tokio::spawn(async move {
            let mut ok = 0u64;
            let mut errors = Errors::default();
            let mut close_errors = Errors::default();
            let mut lat = Samples::default();
            while Instant::now() < end {
                let t0 = Instant::now();
                match session::login(&spec).await {
                    Ok((conn, _jid)) => {
                        lat.0.push(t0.elapsed().as_micros() as u64);
                        ok += 1;
                        if let Err(e) = session::close(conn, spec.timeout).await {
                            close_errors.add(&e);
                        }
                    }
                    Err(e) => {
                        errors.add(&e);
                        // Do not spin on a refused port.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            (ok, errors, close_errors, lat)
        }));
    }
    let mut out = Outcome {
        ok: 0,
        errors: Errors::default(),
        close_errors: Errors::default(),
        latency: Samples::default(),
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        match t.await {
            Ok((ok, e, ce, lat)) => {
                out.ok += ok;
                out.errors.merge(e);
                out.close_errors.merge(ce);
                out.latency.merge(lat);
            }
            Err(e) => out.errors.add(&format!("worker panicked: {e}")),
        }
    }
    out.elapsed = start.elapsed();
    out
}
