//! The sync protocol on the wire: ALPN names, frames (a 4-byte big-endian
//! length, then a postcard message) and the messages themselves. Any
//! reliable, ordered byte stream carries it; iroh's QUIC streams do in
//! production. A sync session compresses each direction as one raw deflate
//! stream, flushed after every frame ([`compressed`]): consecutive records
//! repeat their circle, author, epoch and membership ids and age's header
//! text, which then cost a few bytes each (the sealed payloads and
//! signatures do not compress, and nothing secret is compressed).

use crate::Summary;
use async_compression::tokio::bufread::DeflateDecoder;
use async_compression::tokio::write::DeflateEncoder;
use async_compression::Level;
use circlekeep_model::{CircleId, EntryHash, MemberId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

/// ALPN of the sync protocol, version 4 (version 3 had no tip hashes and
/// no `Fork`, version 2 no `Have`, version 1 no compression).
pub const SYNC_ALPN: &[u8] = b"circlekeep/sync/4";
/// ALPN of the invite protocol, version 2 (version 1 answered a device
/// link without its attestation).
pub const INVITE_ALPN: &[u8] = b"circlekeep/invite/2";
/// Largest frame accepted; a peer announcing more is dropped.
pub const MAX_FRAME: usize = 16 << 20;
/// Records sent per message, in bytes (a single larger entry goes alone).
pub const BATCH_BYTES: usize = 512 << 10;

/// One message of the sync protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// First message each side sends.
    Hello(Hello),
    /// Records of one circle.
    Records {
        /// The circle.
        circle: CircleId,
        /// Signed membership operations.
        ops: Vec<Vec<u8>>,
        /// Signed entries.
        entries: Vec<Vec<u8>>,
    },
    /// The sender has sent everything the receiver lacked as of its Hello.
    CaughtUp,
    /// What the sender now holds of a circle they share (author → last
    /// sequence number), so the receiver does not pass on what it has.
    Have {
        /// The circle.
        circle: CircleId,
        /// Author → last sequence number held (at most [`MAX_HAVE`] authors).
        have: BTreeMap<MemberId, u64>,
        /// Author → chain hash of the entry at that height.
        tips: BTreeMap<MemberId, EntryHash>,
    },
    /// The proof that an author forked its log in a circle: two records it
    /// signed that contradict each other. Handed on to every member's
    /// device, which checks it alone.
    Fork {
        /// The circle.
        circle: CircleId,
        /// The two signed records.
        records: Vec<Vec<u8>>,
    },
    /// Between two devices of one member only: the private journal entries
    /// the sender holds (their keys); the receiver answers with those the
    /// sender lacks.
    JournalHave {
        /// Keys of the entries held (at most [`MAX_JOURNAL_KEYS`]).
        keys: Vec<Vec<u8>>,
    },
    /// Journal entries the receiver lacked, each sealed to the receiving
    /// device alone.
    Journal {
        /// Key and sealed entry.
        entries: Vec<(Vec<u8>, Vec<u8>)>,
    },
}

/// Most authors a [`Message::Have`] may list.
pub const MAX_HAVE: usize = 1024;
/// Most keys a [`Message::JournalHave`] may list.
pub const MAX_JOURNAL_KEYS: usize = 100_000;

/// What a side holds and where members can be reached.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Circles the sender shares with the receiver, and what it holds of each.
    pub circles: Vec<(CircleId, Summary)>,
    /// The sender's and shared members' addresses.
    pub addresses: Vec<PeerAddress>,
}

/// How to reach a member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerAddress {
    /// The member (its endpoint id).
    pub member: MemberId,
    /// Direct socket addresses.
    pub direct: Vec<SocketAddr>,
    /// Home relay URL.
    pub relay: Option<String>,
}

/// The stream broke or the peer spoke nonsense.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The stream failed.
    #[error("stream failed: {0}")]
    Io(#[from] std::io::Error),
    /// A frame announced more than [`MAX_FRAME`] bytes.
    #[error("peer sent a frame of {0} bytes, over the limit")]
    Oversized(usize),
    /// A frame did not decode.
    #[error("peer sent an undecodable frame")]
    Garbage,
}

/// Writes one value as a frame; returns the bytes written.
pub async fn write_frame<W: AsyncWrite + Unpin, T: Serialize>(
    writer: &mut W,
    value: &T,
) -> Result<usize, WireError> {
    let body = postcard::to_stdvec(value).map_err(|_| WireError::Garbage)?;
    if body.len() > MAX_FRAME {
        return Err(WireError::Oversized(body.len()));
    }
    let len = u32::try_from(body.len()).map_err(|_| WireError::Oversized(body.len()))?;
    writer.write_all(&len.to_be_bytes()).await?;
    writer.write_all(&body).await?;
    writer.flush().await?;
    Ok(4 + body.len())
}

/// Reads one value of at most `limit` bytes; `None` at a clean end of stream.
pub async fn read_frame<R: AsyncRead + Unpin, T: DeserializeOwned>(
    reader: &mut R,
    limit: usize,
) -> Result<Option<T>, WireError> {
    let mut len = [0u8; 4];
    match reader.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > limit {
        return Err(WireError::Oversized(len));
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).await?;
    postcard::from_bytes(&body)
        .map(Some)
        .map_err(|_| WireError::Garbage)
}

/// The sync protocol's streams: what is written to the first is deflated
/// (each frame flushed whole), what is read from the second inflated.
/// Frame limits apply to the inflated frames, read a frame at a time.
pub fn compressed<W: AsyncWrite, R: AsyncRead>(
    writer: W,
    reader: R,
) -> (DeflateEncoder<W>, DeflateDecoder<BufReader<R>>) {
    // The fastest level finds the repeated ids as well as the best does.
    (
        DeflateEncoder::with_quality(writer, Level::Fastest),
        DeflateDecoder::new(BufReader::new(reader)),
    )
}

/// Writes one sync message; returns the bytes written.
pub async fn write_message<W: AsyncWrite + Unpin>(
    writer: &mut W,
    message: &Message,
) -> Result<usize, WireError> {
    write_frame(writer, message).await
}

/// Reads one sync message; `None` at a clean end of stream.
pub async fn read_message<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> Result<Option<Message>, WireError> {
    read_frame(reader, MAX_FRAME).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_bad_frames_are_refused() {
        let (mut a, mut b) = tokio::io::duplex(1 << 20);
        let hello = Message::Hello(Hello::default());
        write_message(&mut a, &hello).await.expect("write");
        write_message(&mut a, &Message::CaughtUp)
            .await
            .expect("write");
        assert_eq!(read_message(&mut b).await.expect("read"), Some(hello));
        assert_eq!(
            read_message(&mut b).await.expect("read"),
            Some(Message::CaughtUp)
        );

        // An oversized length is refused before anything is allocated.
        a.write_all(&(MAX_FRAME as u32 + 1).to_be_bytes())
            .await
            .expect("write");
        assert!(matches!(
            read_message(&mut b).await,
            Err(WireError::Oversized(_))
        ));

        let (mut a, mut b) = tokio::io::duplex(1 << 20);
        a.write_all(&3u32.to_be_bytes()).await.expect("write");
        a.write_all(&[0xff, 0xff, 0xff]).await.expect("write");
        assert!(matches!(
            read_message(&mut b).await,
            Err(WireError::Garbage)
        ));

        // A clean end of stream is not an error.
        drop(a);
        let (a, mut b) = tokio::io::duplex(16);
        drop(a);
        assert!(matches!(read_message(&mut b).await, Ok(None)));
    }

    #[tokio::test]
    async fn compressed_frames_round_trip_and_repeated_ids_cost_little() {
        let (a, b) = tokio::io::duplex(1 << 20);
        let (counted_tx, mut counted_rx) = tokio::io::duplex(1 << 20);
        let (mut writer, _) = compressed(counted_tx, tokio::io::empty());
        let (_, mut reader) = compressed(tokio::io::sink(), a);
        let record = |n: u8| Message::Records {
            circle: CircleId([7; 32]),
            ops: vec![],
            entries: vec![[vec![n; 8], vec![1; 64], vec![n; 8]].concat()],
        };
        let mut sizes = Vec::new();
        for n in 0..3 {
            let plain = write_message(&mut writer, &record(n)).await.expect("write");
            let mut wire = [0u8; 4096];
            let got = counted_rx.read(&mut wire).await.expect("read");
            sizes.push((plain, got));
        }
        // The first frame pays for the ids; the next ones refer back to them.
        assert!(sizes[2].1 < sizes[2].0 / 2, "{sizes:?}");

        // What one side deflates, the other reads back frame by frame.
        let (mut writer, _) = compressed(b, tokio::io::empty());
        for n in 0..3 {
            write_message(&mut writer, &record(n)).await.expect("write");
        }
        writer.shutdown().await.expect("finish");
        for n in 0..3 {
            assert_eq!(
                read_message(&mut reader).await.expect("read"),
                Some(record(n))
            );
        }
        assert_eq!(read_message(&mut reader).await.expect("end"), None);
    }

    #[tokio::test]
    async fn an_oversized_frame_inside_deflate_is_refused() {
        let (a, b) = tokio::io::duplex(1 << 20);
        let (mut writer, _) = compressed(b, tokio::io::empty());
        writer
            .write_all(&(MAX_FRAME as u32 + 1).to_be_bytes())
            .await
            .expect("write");
        writer.flush().await.expect("flush");
        let (_, mut reader) = compressed(tokio::io::sink(), a);
        assert!(matches!(
            read_message(&mut reader).await,
            Err(WireError::Oversized(_))
        ));
    }

    use proptest::prelude::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    }

    fn records() -> impl Strategy<Value = Message> {
        (
            any::<[u8; 32]>(),
            prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..4),
            prop::collection::vec(prop::collection::vec(any::<u8>(), 0..256), 0..4),
        )
            .prop_map(|(circle, ops, entries)| Message::Records {
                circle: CircleId(circle),
                ops,
                entries,
            })
    }

    fn message() -> impl Strategy<Value = Message> {
        prop_oneof![
            records(),
            (
                any::<[u8; 32]>(),
                prop::collection::btree_map(any::<[u8; 32]>(), any::<u64>(), 0..8)
            )
                .prop_map(|(circle, have)| Message::Have {
                    circle: CircleId(circle),
                    have: have.into_iter().map(|(m, s)| (MemberId(m), s)).collect(),
                    tips: BTreeMap::new(),
                }),
            (
                any::<[u8; 32]>(),
                prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..3)
            )
                .prop_map(|(circle, records)| Message::Fork {
                    circle: CircleId(circle),
                    records,
                }),
            Just(Message::CaughtUp),
        ]
    }

    proptest! {
        /// Whatever a peer sends, reading yields a message, a clean end or
        /// a typed error; never a panic, never more than the limit buffered.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
            let mut reader = bytes.as_slice();
            runtime().block_on(async {
                for _ in 0..bytes.len() + 1 {
                    match read_frame::<_, Message>(&mut reader, 1024).await {
                        Ok(Some(_)) => continue,
                        Ok(None) | Err(_) => break,
                    }
                }
            });
        }

        /// Whatever bytes arrive where deflate is expected: a message, a
        /// clean end or a typed error, never a panic.
        #[test]
        fn arbitrary_deflate_input_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
            runtime().block_on(async {
                let (_, mut reader) = compressed(tokio::io::sink(), bytes.as_slice());
                for _ in 0..bytes.len() + 1 {
                    match read_message(&mut reader).await {
                        Ok(Some(_)) => continue,
                        Ok(None) | Err(_) => break,
                    }
                }
            });
        }

        /// Every message survives the trip, in order.
        #[test]
        fn messages_round_trip(messages in prop::collection::vec(message(), 0..6)) {
            let mut bytes = Vec::new();
            runtime().block_on(async {
                for m in &messages {
                    write_message(&mut bytes, m).await.expect("write");
                }
                let mut reader = bytes.as_slice();
                for m in &messages {
                    assert_eq!(read_message(&mut reader).await.expect("read").as_ref(), Some(m));
                }
                assert_eq!(read_message(&mut reader).await.expect("end"), None);
            });
        }
    }
}
