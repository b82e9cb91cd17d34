//! recproc's `.mjr` reader against the fixture's writer, which shares no code with it: what
//! the generator writes (the format as Janus writes it) reads back with the header and the
//! packet records intact.

use recproc::media::mjr::{inspect_reader, TrackCodec};
use recproc_fixture::mjr::{header, push_packet};

#[test]
fn what_is_written_reads_back_with_recprocs_reader() {
    let mut f = header("h264", 1_767_261_600_000_000, 1_767_261_600_500_000, None);
    let mut rtp = vec![0x80u8, 107, 0, 1];
    rtp.resize(200, 0);
    push_packet(&mut f, 0, &rtp);
    push_packet(&mut f, 33, &rtp);
    let len = f.len() as u64;
    let i = inspect_reader(std::io::Cursor::new(f), len).unwrap();
    assert_eq!(i.packets, 2);
    assert_eq!(i.last_packet_ms, 33);
    assert_eq!(i.header.video_codec().unwrap(), TrackCodec::H264);
    assert_eq!(i.header.first_packet.as_micros(), 1_767_261_600_500_000);
}

#[test]
fn the_video_orientation_the_fixture_writes_reads_back() {
    use recproc_fixture::mjr::VIDEO_ORIENTATION;
    let mut f = header("vp8", 1, 2, Some((13, VIDEO_ORIENTATION)));
    let mut stream = recproc_fixture::rtp::RtpStream::new(96, 9);
    for (i, degrees) in [90u16, 90, 270].into_iter().enumerate() {
        let byte = recproc_fixture::rtp::cvo_byte(degrees);
        let ts = i as u32 * 45_000;
        for p in stream.frame(ts, &[vec![0x10, 1], vec![0, 2]], Some((13, byte))) {
            push_packet(&mut f, i as u32 * 500, &p);
        }
    }
    let len = f.len() as u64;
    let i = inspect_reader(std::io::Cursor::new(f), len).unwrap();
    assert_eq!(i.header.orientation_id, Some(13));
    assert_eq!(i.rotations, vec![(0.0, 90), (1.0, 270)]);
}
