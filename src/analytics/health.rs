//! Fleet health for operators: per device, uplinks received against those the frame
//! counter says were sent (a counter that goes back, or a join, starts a new session:
//! not a loss), battery and radio quality; per gateway, what it hears; decode failures
//! per model.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::store::health as store;

/// Frames of one device in a period, from its frame counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
pub struct FrameLoss {
    /// Distinct frames received.
    pub received: u64,
    /// Frames the counters say were sent.
    pub expected: u64,
    pub lost: u64,
    /// lost / expected; null without frames.
    pub loss_rate: Option<f64>,
    /// Sessions seen (joins and counter resets start one).
    pub sessions: u64,
}

/// Loss from `(time, f_cnt)` of received uplinks and the times of joins, both sorted by
/// time. A session runs from a join, or a counter lower than the previous one, to the
/// next; within it, every counter value between the first (0 after an observed join) and
/// the last was sent. Repeated counters are one frame.
pub fn frame_loss(frames: &[(DateTime<Utc>, u32)], joins: &[DateTime<Utc>]) -> FrameLoss {
    let mut out = FrameLoss::default();
    // (first counter expected, last seen, distinct received) of the open session.
    let mut session: Option<(u32, u32, u64)> = None;
    let mut join_i = 0;
    let mut prev_time: Option<DateTime<Utc>> = None;
    fn close(s: Option<(u32, u32, u64)>, out: &mut FrameLoss) {
        if let Some((first, last, n)) = s {
            let expected = u64::from(last.saturating_sub(first)) + 1;
            out.expected += expected;
            out.received += n;
            out.lost += expected.saturating_sub(n);
            out.sessions += 1;
        }
    }
    for &(time, f_cnt) in frames {
        // A join since the previous frame (or before the first) opens a session at 0.
        let mut joined = false;
        while join_i < joins.len() && joins[join_i] <= time {
            if prev_time.is_none_or(|p| joins[join_i] > p) {
                joined = true;
            }
            join_i += 1;
        }
        prev_time = Some(time);
        session = match session {
            Some((first, last, n)) if !joined && f_cnt > last => Some((first, f_cnt, n + 1)),
            Some(s) if !joined && f_cnt == s.1 => Some(s),
            // Lower than the last: a reset (rejoin not seen, or an ABP device restarted).
            old => {
                close(old, &mut out);
                Some((if joined { 0 } else { f_cnt }, f_cnt, 1))
            }
        };
    }
    close(session, &mut out);
    out.loss_rate = (out.expected > 0).then(|| out.lost as f64 / out.expected as f64);
    out
}

/// Frame loss per device over `[from, to)` (of `ids` only, if given), from the stored
/// frame counters and join events.
pub async fn losses(
    pool: &PgPool,
    ids: Option<&[i64]>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<HashMap<i64, FrameLoss>, sqlx::Error> {
    let mut counters: HashMap<i64, Vec<(DateTime<Utc>, u32)>> = HashMap::new();
    for (id, t, f) in store::frame_counters(pool, ids, from, to).await? {
        counters.entry(id).or_default().push((t, u32::try_from(f).unwrap_or(u32::MAX)));
    }
    let mut joins: HashMap<i64, Vec<DateTime<Utc>>> = HashMap::new();
    for (id, t) in store::joins(pool, ids, from, to).await? {
        joins.entry(id).or_default().push(t);
    }
    Ok(counters
        .into_iter()
        .map(|(id, frames)| {
            let j = joins.get(&id).map_or(&[][..], Vec::as_slice);
            (id, frame_loss(&frames, j))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(min: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_735_689_600 + min * 60, 0).unwrap_or_default()
    }

    #[test]
    fn gaps_are_losses_and_a_rejoin_is_not() {
        // 10, 11, 13, 14 (12 lost), rejoin, then 0, 1, 2, 5 (3 and 4 lost):
        // 8 received of 11 sent (10..=14 and 0..=5), 3 lost, 27.3 %.
        let frames: Vec<(DateTime<Utc>, u32)> =
            [10, 11, 13, 14, 0, 1, 2, 5].iter().enumerate().map(|(i, &f)| (t(i as i64 * 15), f)).collect();
        let joins = [t(4 * 15 - 1)];
        let l = frame_loss(&frames, &joins);
        assert_eq!((l.received, l.expected, l.lost, l.sessions), (8, 11, 3, 2));
        assert_eq!(l.loss_rate, Some(3.0 / 11.0));
        // The same counters without the join event: the reset alone starts the session.
        assert_eq!(frame_loss(&frames, &[]), l);
    }

    #[test]
    fn after_a_join_the_first_frames_count_from_zero() {
        // Joined, then the first frame heard is 2: frames 0 and 1 were lost.
        let l = frame_loss(&[(t(1), 2), (t(2), 3)], &[t(0)]);
        assert_eq!((l.received, l.expected, l.lost), (2, 4, 2));
        // Repeated counters (the same frame via two paths) are one frame.
        let l = frame_loss(&[(t(1), 7), (t(2), 7), (t(3), 8)], &[]);
        assert_eq!((l.received, l.expected, l.lost, l.loss_rate), (2, 2, 0, Some(0.0)));
        assert_eq!(frame_loss(&[], &[]).loss_rate, None);
    }
}
