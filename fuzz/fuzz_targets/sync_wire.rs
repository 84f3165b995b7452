//! Bytes from any peer that reaches the sync or invite protocol, and invite
//! tickets pasted by people: decoding never panics and never buffers more
//! than the frame limit.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = text.parse::<circlekeep_sync::Ticket>();
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(runtime) => runtime,
        Err(_) => return,
    };
    runtime.block_on(async {
        let mut reader = data;
        while let Ok(Some(_)) = circlekeep_sync::wire::read_message(&mut reader).await {}
        // The same bytes where a session expects deflate.
        let (_, mut inflating) = circlekeep_sync::wire::compressed(tokio::io::sink(), data);
        while let Ok(Some(_)) = circlekeep_sync::wire::read_message(&mut inflating).await {}
        // The same bytes as an invite request (a join, a link, a device
        // presenting its link's operations).
        let mut reader = data;
        let _ = circlekeep_sync::invite::read_any_request(&mut reader).await;
    });
});
