//! Showing what a synthetic brought back, each kind switchable: text
//! streams as it arrives; images are drawn in the terminal with the best
//! protocol it supports (kitty, iTerm, sixel, else half-blocks, through
//! `viuer`) when built with the `terminal` feature; audio plays through the default output device when built with
//! the `audio` feature; embeddings print their shape. Anything that cannot
//! be shown (no terminal, no device, no audio support built in) is said
//! once, and the run goes on.
//!
//! Text comes from a model on a miner: its terminal controls are escaped
//! as it streams (newlines and tabs kept), so an answer cannot recolour,
//! retitle or rewrite the terminal it is shown on.

use std::io::Write;

use audit_model::terminal::{escape_control, escape_control_multiline};

use crate::capture::Output;
use crate::TaskType;

/// Which outputs are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RenderOptions {
    /// Chat and completion text, streamed.
    pub text: bool,
    /// Images, drawn.
    pub image: bool,
    /// TTS audio, played.
    pub audio: bool,
    /// Embedding shapes, printed.
    pub embed: bool,
}

impl RenderOptions {
    /// Everything off (`--no-render`).
    pub fn none() -> RenderOptions {
        RenderOptions::default()
    }

    /// Whether `task`'s output is shown.
    pub fn shows(&self, task: TaskType) -> bool {
        match task {
            TaskType::Chat | TaskType::Completion => self.text,
            TaskType::Image => self.image,
            TaskType::Tts => self.audio,
            TaskType::Embed => self.embed,
        }
    }
}

/// Draws outputs onto `out` (the terminal, or a buffer in tests).
pub struct Renderer<W: Write> {
    options: RenderOptions,
    out: W,
    /// Whether `out` is a terminal that can take images.
    terminal: bool,
    said_no_audio: bool,
}

impl<W: Write> Renderer<W> {
    /// A renderer writing to `out`; `terminal` says whether images may be
    /// drawn there.
    pub fn new(options: RenderOptions, out: W, terminal: bool) -> Self {
        Renderer {
            options,
            out,
            terminal,
            said_no_audio: false,
        }
    }

    /// The options in force.
    pub fn options(&self) -> RenderOptions {
        self.options
    }

    /// One streamed piece of text, written as it arrives, its terminal
    /// controls escaped. Each character is escaped on its own, so a
    /// sequence split across pieces is escaped all the same.
    pub fn text_piece(&mut self, task: TaskType, piece: &str) {
        if self.options.shows(task) {
            let _ = self
                .out
                .write_all(escape_control_multiline(piece).as_bytes());
            let _ = self.out.flush();
        }
    }

    /// The finished output of a `task` request.
    pub fn output(&mut self, task: TaskType, output: &Output) {
        if !self.options.shows(task) {
            return;
        }
        match output {
            Output::Text { .. } => {
                let _ = writeln!(self.out);
            }
            Output::Image {
                width,
                height,
                bytes,
            } => self.image(*width, *height, bytes),
            Output::Audio {
                sample_rate,
                channels,
                samples,
                bytes,
            } => self.audio(*sample_rate, *channels, *samples, bytes),
            Output::Embedding { rows, dims } => {
                let _ = writeln!(self.out, "embedding shape [{rows}, {dims}]");
            }
        }
        let _ = self.out.flush();
    }

    fn image(&mut self, width: u32, height: u32, bytes: &[u8]) {
        let _ = writeln!(self.out, "image {width}×{height}");
        if !self.terminal {
            return;
        }
        let _ = self.out.flush();
        if let Err(why) = draw(width, bytes) {
            let _ = writeln!(
                self.out,
                "(the image cannot be drawn here: {})",
                escape_control(&why)
            );
        }
    }

    fn audio(&mut self, sample_rate: u32, channels: u16, samples: u32, bytes: &[u8]) {
        let seconds =
            f64::from(samples) / f64::from(sample_rate.max(1)) / f64::from(channels.max(1));
        let _ = writeln!(self.out, "audio {seconds:.1} s at {sample_rate} Hz");
        if let Err(why) = play(bytes) {
            if !self.said_no_audio {
                self.said_no_audio = true;
                let _ = writeln!(self.out, "(audio is not played: {})", escape_control(&why));
            }
        }
    }
}

/// Draws an image in the terminal, `width` cells at most 48 wide. A body
/// that does not decode is left undrawn without a word: its size line
/// was printed, and the capture already refused a broken image.
#[cfg(feature = "terminal")]
fn draw(width: u32, bytes: &[u8]) -> Result<(), String> {
    let Ok(image) = image::load_from_memory(bytes) else {
        return Ok(());
    };
    let config = viuer::Config {
        absolute_offset: false,
        width: Some(width.clamp(8, 48)),
        ..viuer::Config::default()
    };
    viuer::print(&image, &config)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Without the `terminal` feature there is nothing to draw with.
#[cfg(not(feature = "terminal"))]
fn draw(_width: u32, _bytes: &[u8]) -> Result<(), String> {
    Err("this build draws no images (cargo feature `terminal`)".into())
}

/// Plays a WAV through the default output device, to the end. The WAV
/// is decoded before the device is opened, so a broken answer is named as
/// such on any machine, with or without speakers.
#[cfg(feature = "audio")]
fn play(bytes: &[u8]) -> Result<(), String> {
    let source = rodio::Decoder::new(std::io::Cursor::new(bytes.to_vec()))
        .map_err(|e| format!("the WAV cannot be played: {e}"))?;
    let device = rodio::DeviceSinkBuilder::open_default_sink()
        .map_err(|e| format!("no audio output device ({e})"))?;
    let player = rodio::Player::connect_new(device.mixer());
    player.append(source);
    player.sleep_until_end();
    Ok(())
}

/// Without the `audio` feature there is nothing to play through.
#[cfg(not(feature = "audio"))]
fn play(_bytes: &[u8]) -> Result<(), String> {
    Err("this build has no audio support (cargo feature `audio`)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> RenderOptions {
        RenderOptions {
            text: true,
            image: true,
            audio: true,
            embed: true,
        }
    }

    #[test]
    fn each_kind_renders_and_none_renders_nothing() {
        let mut out = Vec::new();
        let mut r = Renderer::new(all(), &mut out, false);
        r.text_piece(TaskType::Chat, "Hel");
        r.text_piece(TaskType::Chat, "lo");
        r.output(
            TaskType::Chat,
            &Output::Text {
                text: "Hello".into(),
                chunks: 2,
            },
        );
        r.output(TaskType::Embed, &Output::Embedding { rows: 1, dims: 16 });
        r.output(
            TaskType::Image,
            &Output::Image {
                width: 32,
                height: 32,
                bytes: vec![],
            },
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("Hello\n"), "{text}");
        assert!(text.contains("embedding shape [1, 16]"), "{text}");
        assert!(text.contains("image 32×32"), "{text}");

        let mut out = Vec::new();
        let mut r = Renderer::new(RenderOptions::none(), &mut out, false);
        r.text_piece(TaskType::Chat, "Hel");
        r.output(TaskType::Embed, &Output::Embedding { rows: 1, dims: 16 });
        assert!(out.is_empty());
    }

    #[test]
    fn streamed_text_shows_escape_sequences_and_keeps_its_lines() {
        let mut out = Vec::new();
        let mut r = Renderer::new(all(), &mut out, false);
        // A recolour, a window title, a line rewrite, a screen clear split
        // across two pieces, then a new line and an indented one.
        for piece in [
            "ok \u{1b}[31mred\u{1b}]0;pwned\u{7}",
            "\rfake\u{0}\u{1b}",
            "[2J\u{9b}1m\nnext\n\tindented",
        ] {
            r.text_piece(TaskType::Chat, piece);
        }
        let text = String::from_utf8(out).unwrap();
        assert!(
            !text
                .chars()
                .any(|c| (c.is_control() || c == '\u{202e}') && c != '\n' && c != '\t'),
            "{text:?}"
        );
        assert_eq!(
            text,
            "ok \\u{1b}[31mred\\u{1b}]0;pwned\\u{7}\\rfake\\u{0}\\u{1b}[2J\\u{9b}1m\nnext\n\tindented"
        );
    }

    #[cfg(not(feature = "audio"))]
    #[test]
    fn missing_audio_is_said_once() {
        let mut out = Vec::new();
        let mut r = Renderer::new(all(), &mut out, false);
        let audio = Output::Audio {
            sample_rate: 16_000,
            channels: 1,
            samples: 8_000,
            bytes: vec![],
        };
        r.output(TaskType::Tts, &audio);
        r.output(TaskType::Tts, &audio);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("audio is not played").count(), 1, "{text}");
        assert!(text.contains("audio 0.5 s at 16000 Hz"), "{text}");
    }

    /// A short tone as the devnet's TTS chute answers it.
    #[cfg(feature = "audio")]
    fn tone() -> Vec<u8> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut cursor = std::io::Cursor::new(Vec::new());
        let mut writer = hound::WavWriter::new(&mut cursor, spec).unwrap();
        for i in 0..400 {
            writer.write_sample(((i % 16) as i16 - 8) * 500).unwrap();
        }
        writer.finalize().unwrap();
        cursor.into_inner()
    }

    #[cfg(feature = "audio")]
    #[test]
    fn a_broken_wav_is_named_and_a_missing_device_is_said_once() {
        assert!(play(b"RIFF junk")
            .unwrap_err()
            .starts_with("the WAV cannot be played"));
        let wav = tone();
        let audio = Output::Audio {
            sample_rate: 8_000,
            channels: 1,
            samples: 400,
            bytes: wav.clone(),
        };
        let mut out = Vec::new();
        let mut r = Renderer::new(all(), &mut out, false);
        r.output(TaskType::Tts, &audio);
        r.output(TaskType::Tts, &audio);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("audio 0.1 s at 8000 Hz").count(), 2, "{text}");
        match play(&wav) {
            // A machine with speakers played the tone: nothing to say.
            Ok(()) => assert!(!text.contains("not played"), "{text}"),
            Err(why) => {
                assert!(why.starts_with("no audio output device"), "{why}");
                assert_eq!(
                    text.matches("(audio is not played: no audio output device")
                        .count(),
                    1,
                    "{text}"
                );
            }
        }
    }
}
