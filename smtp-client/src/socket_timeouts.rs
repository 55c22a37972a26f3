//! [`SocketTimeouts`]: a blocking loop's deadlines as socket timeouts.

use std::io;
use std::time::{Duration, Instant};

/// The driver's deadlines as the read and write timeouts of a blocking
/// socket, remembering the ones last set so that an unchanged timeout is
/// not set again for every flight.
///
/// The time left is rounded down (to whole seconds from ten seconds up,
/// to milliseconds below) so that consecutive operations agree; a read
/// that gives up early is simply asked for again by the driver, which
/// judges the deadline itself.
///
/// ```
/// use std::time::{Duration, Instant};
/// use smtpkit_client::SocketTimeouts;
///
/// let mut timeouts = SocketTimeouts::default();
/// let now = Instant::now();
/// let deadline = Some(now + Duration::from_millis(30_500));
/// // Set the socket's read timeout to 30 s…
/// assert_eq!(timeouts.read(deadline, now)?, Some(Some(Duration::from_secs(30))));
/// // …and leave it: a quarter second later it would still be 30 s.
/// assert_eq!(timeouts.read(deadline, now + Duration::from_millis(250))?, None);
/// // Past the deadline, the operation times out without waiting.
/// assert!(timeouts.read(deadline, now + Duration::from_secs(31)).is_err());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct SocketTimeouts {
    read: Option<Option<Duration>>,
    write: Option<Option<Duration>>,
}

impl SocketTimeouts {
    /// The read timeout to set on the socket before a read that must end
    /// by `deadline` (`Some(None)`: block), or `None` when the socket has
    /// it already.
    ///
    /// # Errors
    /// `TimedOut` once `deadline` has passed.
    pub fn read(
        &mut self,
        deadline: Option<Instant>,
        now: Instant,
    ) -> io::Result<Option<Option<Duration>>> {
        changed(&mut self.read, deadline, now)
    }

    /// The write timeout to set before a write that must end by
    /// `deadline`, as [`read`](Self::read)'s.
    ///
    /// # Errors
    /// `TimedOut` once `deadline` has passed.
    pub fn write(
        &mut self,
        deadline: Option<Instant>,
        now: Instant,
    ) -> io::Result<Option<Option<Duration>>> {
        changed(&mut self.write, deadline, now)
    }
}

fn changed(
    set: &mut Option<Option<Duration>>,
    deadline: Option<Instant>,
    now: Instant,
) -> io::Result<Option<Option<Duration>>> {
    let timeout = time_left(deadline, now)?;
    if *set == Some(timeout) {
        return Ok(None);
    }
    *set = Some(timeout);
    Ok(Some(timeout))
}

fn time_left(deadline: Option<Instant>, now: Instant) -> io::Result<Option<Duration>> {
    let Some(left) = deadline.map(|d| d.saturating_duration_since(now)) else {
        return Ok(None);
    };
    let coarse = if left >= Duration::from_secs(10) {
        Duration::from_secs(left.as_secs())
    } else {
        Duration::from_millis(u64::try_from(left.as_millis()).unwrap_or(u64::MAX))
    };
    match (coarse, left) {
        (_, Duration::ZERO) => Err(io::ErrorKind::TimedOut.into()),
        // Under a millisecond left: the exact remainder (a zero timeout
        // would mean "block" to the socket).
        (Duration::ZERO, left) => Ok(Some(left)),
        (coarse, _) => Ok(Some(coarse)),
    }
}
