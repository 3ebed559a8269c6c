//! `ctplan-bench portal-upload [UPLOADS] [SLICES] [SIZE] [CONCURRENT] [WAIT_SECONDS]`:
//! concurrent uploads to a real portal on loopback.
//!
//! A portal (`ctplan_portal::serve`, the server `ctplan serve` runs, its embedded worker
//! included) is started in this process on 127.0.0.1 with a fresh data folder and the default
//! configuration but `Limits::concurrent = CONCURRENT` (default 2, the portal's own default)
//! and `Config::upload_wait_seconds = WAIT_SECONDS` (default 120, the portal's; 0 makes it
//! answer 503 at once instead of queuing, as it did before).
//! A surgeon logs in over HTTP; then UPLOADS clients (default 50), one thread each with its own
//! TCP connection, released together, each upload a different zipped DICOM series of SLICES
//! slices of SIZE × SIZE (default 20 of 128 × 128; 16-bit, made here with `dicom-object`,
//! carrying a patient name, ID and a private tag as a PACS's export would) as
//! `POST /api/cases?kind=cranio` (a cranio case queues no job, so that the worker does not
//! compete with the uploads).
//!
//! The portal queues uploads beyond `CONCURRENT` (their bodies unread) and answers 503 only
//! after `WAIT_SECONDS`; a client answered 503 retries after a back-off (10 ms doubling to at
//! most 320 ms, plus up to 10 ms drawn from the clock's nanoseconds), and the retries are
//! counted and reported. Every upload must end 200 (else the
//! run fails). A client's latency is from its first attempt to the 200, waits included.
//!
//! The peer, in the same run: the same zips decoded in-process by `ctplan_dicom` with no
//! HTTP, no de-identification and nothing stored (`ctplan_portal::upload::unzip`, then
//! `ctplan_dicom::scan_memory`, `select`, `load`), on CONCURRENT threads — the work a portal
//! allowing CONCURRENT uploads at once cannot avoid. Also timed: the portal's own in-process
//! decode with de-identification (`ctplan_portal::upload::decode`) on the same threads, to
//! split the difference between de-identification and HTTP, storage and database.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

const PASSWORD: &str = "a benchmark password";

/// One slice of series `series` (UIDs under a root of its own), `size` × `size` pixels.
fn slice(series: usize, z: usize, size: usize) -> Result<Vec<u8>> {
    let ct = "1.2.840.10008.5.1.4.1.1.2";
    let root = format!("1.2.826.0.1.3680043.77.{}", series + 1);
    let sop = format!("{root}.1.{}", z + 1);
    let el = |tag, vr, v: PrimitiveValue| DataElement::new(tag, vr, v);
    // A disc of soft tissue in air, its values varying with z so slices differ.
    let c = size as f64 / 2.0;
    let pixels: Vec<u16> = (0..size * size)
        .map(|i| {
            let (x, y) = ((i % size) as f64 - c, (i / size) as f64 - c);
            if x * x + y * y < (0.4 * size as f64).powi(2) {
                1064 + ((x.abs() as usize + z) % 40) as u16
            } else {
                24
            }
        })
        .collect();
    let obj = InMemDicomObject::from_element_iter([
        el(tags::SOP_CLASS_UID, VR::UI, ct.into()),
        el(tags::SOP_INSTANCE_UID, VR::UI, sop.as_str().into()),
        el(tags::STUDY_INSTANCE_UID, VR::UI, root.as_str().into()),
        el(
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            format!("{root}.1").as_str().into(),
        ),
        el(tags::MODALITY, VR::CS, "CT".into()),
        el(tags::PATIENT_NAME, VR::PN, "Bench^Patient".into()),
        el(
            tags::PATIENT_ID,
            VR::LO,
            format!("MRN-{series}").as_str().into(),
        ),
        el(Tag(0x0011, 0x0010), VR::LO, "ACME 1.0".into()),
        el(Tag(0x0011, 0x1001), VR::LO, "vendor data".into()),
        el(tags::INSTANCE_NUMBER, VR::IS, format!("{}", z + 1).into()),
        el(
            tags::IMAGE_POSITION_PATIENT,
            VR::DS,
            format!("-64\\-64\\{}", 2 * z).into(),
        ),
        el(
            tags::IMAGE_ORIENTATION_PATIENT,
            VR::DS,
            "1\\0\\0\\0\\1\\0".into(),
        ),
        el(tags::PIXEL_SPACING, VR::DS, "1\\1".into()),
        el(tags::SLICE_THICKNESS, VR::DS, "2".into()),
        el(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16)),
        el(
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            "MONOCHROME2".into(),
        ),
        el(tags::ROWS, VR::US, PrimitiveValue::from(size as u16)),
        el(tags::COLUMNS, VR::US, PrimitiveValue::from(size as u16)),
        el(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16)),
        el(tags::BITS_STORED, VR::US, PrimitiveValue::from(16u16)),
        el(tags::HIGH_BIT, VR::US, PrimitiveValue::from(15u16)),
        el(
            tags::PIXEL_REPRESENTATION,
            VR::US,
            PrimitiveValue::from(0u16),
        ),
        el(tags::RESCALE_INTERCEPT, VR::DS, "-1024".into()),
        el(tags::RESCALE_SLOPE, VR::DS, "1".into()),
        el(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(pixels.into())),
    ]);
    let meta = FileMetaTableBuilder::new()
        .transfer_syntax("1.2.840.10008.1.2.1")
        .media_storage_sop_class_uid(ct)
        .media_storage_sop_instance_uid(sop.as_str());
    let mut out = Vec::new();
    obj.with_meta(meta)?.write_all(&mut out)?;
    Ok(out)
}

/// Series `series` as a deflated zip, one entry per slice.
fn series_zip(series: usize, slices: usize, size: usize) -> Result<Vec<u8>> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for z in 0..slices {
        w.start_file(format!("IM{z:04}"), opts)?;
        w.write_all(&slice(series, z, size)?)?;
    }
    Ok(w.finish()?.into_inner())
}

/// One HTTP/1.1 request on a new connection (`Connection: close`): status, headers, body.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(u16, String, Vec<u8>)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let end = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of the response's headers")?;
    let head = String::from_utf8_lossy(&resp[..end]).to_string();
    let status: u16 = head
        .split(' ')
        .nth(1)
        .context("no status")?
        .parse()
        .context("a status that is no number")?;
    Ok((status, head, resp[end + 4..].to_vec()))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Run `f` over `items` on `threads` threads; the wall time.
fn timed_pool(
    items: &[Vec<u8>],
    threads: usize,
    f: impl Fn(&[u8]) -> Result<()> + Sync,
) -> Result<f64> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let t = Instant::now();
    std::thread::scope(|sc| {
        let handles: Vec<_> = (0..threads.max(1))
            .map(|_| {
                sc.spawn(|| -> Result<()> {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let Some(b) = items.get(i) else {
                            return Ok(());
                        };
                        f(b)?;
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().map_err(|_| anyhow::anyhow!("a thread panicked"))?)
    })?;
    Ok(t.elapsed().as_secs_f64())
}

/// `portal-upload [UPLOADS] [SLICES] [SIZE] [CONCURRENT] [WAIT_SECONDS]`: one JSON line.
pub fn portal_upload(args: &[String]) -> Result<()> {
    let arg = |i: usize, d: usize| -> Result<usize> {
        Ok(args.get(i).map(|s| s.parse()).transpose()?.unwrap_or(d))
    };
    let (uploads, slices, size, concurrent) = (arg(0, 50)?, arg(1, 20)?, arg(2, 128)?, arg(3, 2)?);
    let mut config = ctplan_portal::Config::default();
    let wait = arg(4, config.upload_wait_seconds as usize)?;
    config.limits.concurrent = concurrent;
    config.upload_wait_seconds = wait as u64;
    let zips: Vec<Vec<u8>> = (0..uploads)
        .map(|i| series_zip(i, slices, size))
        .collect::<Result<_>>()?;
    let zip_bytes = zips[0].len();

    // The portal, on a fresh data folder.
    let data = std::env::temp_dir().join(format!("ctplan-bench-portal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let portal = ctplan_portal::Portal::open(&data, config)?;
    let user = ctplan_portal::admin::create_user(
        &portal,
        "bench",
        PASSWORD,
        ctplan_portal::Role::Surgeon,
    )?;
    let team = portal.store().create_team("bench")?;
    portal.store().add_member(&team, &user.id)?;
    let (tx, rx) = std::sync::mpsc::channel();
    let server = portal.clone();
    std::thread::spawn(move || {
        let r = ctplan_portal::serve(server, SocketAddr::from(([127, 0, 0, 1], 0)), |a| {
            let _ = tx.send(a);
        });
        if let Err(e) = r {
            eprintln!("portal: {e}");
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .context("the portal did not start")?;

    // Log in over HTTP: the cookie and the CSRF token.
    let login = serde_json::json!({"name": "bench", "password": PASSWORD}).to_string();
    let (status, head, body) = http(
        addr,
        "POST",
        "/api/login",
        &[("Content-Type", "application/json")],
        login.as_bytes(),
    )?;
    if status != 200 {
        bail!("login: {status} {}", String::from_utf8_lossy(&body));
    }
    let cookie = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .and_then(|v| v.split(';').next())
        .context("no session cookie")?
        .to_string();
    let csrf = serde_json::from_slice::<serde_json::Value>(&body)?["csrf"]
        .as_str()
        .context("no CSRF token")?
        .to_string();

    // UPLOADS clients at once.
    let path = format!("/api/cases?team={team}&name=bench&filename=upload.zip&kind=cranio");
    let barrier = Arc::new(Barrier::new(uploads + 1));
    let handles: Vec<_> = zips
        .iter()
        .cloned()
        .map(|zip| {
            let (barrier, path, cookie, csrf) =
                (barrier.clone(), path.clone(), cookie.clone(), csrf.clone());
            std::thread::spawn(move || -> Result<(f64, usize, Instant)> {
                barrier.wait();
                let t = Instant::now();
                let mut retries = 0;
                let mut wait = Duration::from_millis(10);
                loop {
                    let headers = [
                        ("Cookie", cookie.as_str()),
                        ("X-CSRF-Token", csrf.as_str()),
                        ("Content-Type", "application/zip"),
                    ];
                    let (status, _, body) = http(addr, "POST", &path, &headers, &zip)?;
                    match status {
                        200 => return Ok((t.elapsed().as_secs_f64(), retries, Instant::now())),
                        503 => {
                            retries += 1;
                            let jitter = std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .map_or(0, |d| d.subsec_nanos() % 10_000_000);
                            std::thread::sleep(wait + Duration::from_nanos(jitter as u64));
                            wait = (wait * 2).min(Duration::from_millis(320));
                        }
                        s => bail!("upload answered {s}: {}", String::from_utf8_lossy(&body)),
                    }
                }
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    let mut latencies = Vec::new();
    let mut retries = 0;
    let mut last = start;
    for h in handles {
        let (l, r, done) = h
            .join()
            .map_err(|_| anyhow::anyhow!("a client panicked"))??;
        latencies.push(l);
        retries += r;
        last = last.max(done);
    }
    let wall = last.duration_since(start).as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let cases = portal.store().visible_cases(&user.id)?.len();
    if cases != uploads {
        bail!("{cases} cases stored for {uploads} uploads");
    }
    let _ = std::fs::remove_dir_all(&data);

    // The peers, on the same zips and as many threads as the portal takes uploads at once.
    let limits = ctplan_portal::Limits::default();
    let peer = timed_pool(&zips, concurrent, |zip| {
        let files =
            ctplan_portal::upload::unzip(zip, &limits).map_err(|e| anyhow::anyhow!(e.message))?;
        let named = files
            .into_iter()
            .enumerate()
            .map(|(i, b)| (format!("{i}.dcm"), b))
            .collect();
        let scan = ctplan_dicom::scan_memory("peer", named);
        ctplan_dicom::load(scan.select(None)?, ctplan_dicom::LoadOptions::default())?;
        Ok(())
    })?;
    let deid = timed_pool(&zips, concurrent, |zip| {
        ctplan_portal::upload::decode("upload.zip", zip.to_vec(), &limits)
            .map_err(|e| anyhow::anyhow!(e.message))?;
        Ok(())
    })?;

    println!(
        "{}",
        serde_json::json!({
            "op": "portal-upload",
            "uploads": uploads, "slices": slices, "size": size, "zip_bytes": zip_bytes,
            "concurrent": concurrent, "upload_wait_seconds": wait,
            "completed": latencies.len(),
            "retries_503": retries,
            "seconds": wall,
            "uploads_per_second": uploads as f64 / wall,
            "latency_p50_seconds": percentile(&latencies, 0.5),
            "latency_p95_seconds": percentile(&latencies, 0.95),
            "latency_max_seconds": latencies.last(),
            "peer": "ctplan_dicom in-process decode of the same zips (unzip, scan_memory, select, load), no HTTP, no de-identification, nothing stored, on `concurrent` threads",
            "peer_seconds": peer,
            "peer_uploads_per_second": uploads as f64 / peer,
            "ratio_portal_to_peer_seconds": wall / peer,
            "inprocess_deid_decode_seconds": deid,
            "threads": std::thread::available_parallelism().map_or(1, |n| n.get()),
        })
    );
    Ok(())
}
