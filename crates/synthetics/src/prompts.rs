//! Where prompts come from: a built-in set compiled into the binary (so
//! synthetics work offline), local files (JSONL, CSV or Parquet, the field
//! named by the config), or a Hugging Face dataset read from the local
//! cache (`~/.cache/huggingface/hub`), falling back to the built-in set
//! with one clear message when it is not there.
//!
//! A field holds either a plain text or a conversation: a list of
//! `{role, content}` turns (the upstream WildChat `conversation` column).

use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::SynthError;

/// The built-in chat conversations (JSONL, field `conversation`).
pub const BUILTIN_CHAT: &str = include_str!("../prompts/chat.jsonl");
/// The built-in image prompts (JSONL, field `prompt`).
pub const BUILTIN_IMAGE: &str = include_str!("../prompts/image.jsonl");

/// Rows read from one dataset at most: a week of synthetics needs a few
/// thousand prompts, and a Hugging Face shard holds far more.
pub const MAX_PROMPTS: usize = 5_000;

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    /// `user`, `assistant` or `system`.
    pub role: String,
    /// The text of the turn.
    pub content: String,
}

/// A prompt as a field holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    /// A plain text.
    Text(String),
    /// A conversation.
    Conversation(Vec<Turn>),
}

impl Prompt {
    /// As a conversation: a text becomes one user turn.
    pub fn into_conversation(self) -> Vec<Turn> {
        match self {
            Prompt::Text(content) => vec![Turn {
                role: "user".into(),
                content,
            }],
            Prompt::Conversation(turns) => turns,
        }
    }

    /// As one text: the first user turn of a conversation.
    pub fn into_text(self) -> String {
        match self {
            Prompt::Text(text) => text,
            Prompt::Conversation(turns) => turns
                .into_iter()
                .find(|t| t.role == "user")
                .map(|t| t.content)
                .unwrap_or_default(),
        }
    }

    fn usable(&self) -> bool {
        match self {
            Prompt::Text(t) => !t.trim().is_empty(),
            Prompt::Conversation(turns) => turns.iter().any(|t| !t.content.trim().is_empty()),
        }
    }
}

/// Where one kind of prompt comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptSource {
    /// The built-in set.
    Builtin,
    /// A local file; its extension picks the reader.
    File {
        /// `.jsonl`/`.json`, `.csv` or `.parquet`.
        path: PathBuf,
        /// The field (JSON key, CSV column, Parquet column) with the prompt.
        field: String,
    },
    /// A Hugging Face dataset, from the local cache only.
    HuggingFace {
        /// `OWNER/NAME`, e.g. `allenai/WildChat-1M`.
        dataset: String,
        /// The split whose files are preferred (`train`).
        split: String,
        /// The column with the prompt.
        field: String,
        /// The hub cache (`$HF_HOME/hub`, default `~/.cache/huggingface/hub`).
        cache: PathBuf,
    },
}

/// The prompts of one run: conversations for chat, completion, TTS and
/// embeddings; image prompts for diffusion.
#[derive(Debug, Clone)]
pub struct PromptSet {
    /// Chat conversations (never empty).
    pub conversations: Vec<Vec<Turn>>,
    /// Image prompts (never empty).
    pub images: Vec<String>,
    /// Notes for the user: which fallbacks were taken.
    pub notes: Vec<String>,
}

impl PromptSet {
    /// The built-in set alone.
    pub fn builtin() -> PromptSet {
        PromptSet {
            conversations: builtin(BUILTIN_CHAT, "conversation")
                .into_iter()
                .map(Prompt::into_conversation)
                .collect(),
            images: builtin(BUILTIN_IMAGE, "prompt")
                .into_iter()
                .map(Prompt::into_text)
                .collect(),
            notes: Vec::new(),
        }
    }

    /// Loads text and image prompts from their sources. A Hugging Face
    /// dataset missing from the cache falls back to the built-in set with a
    /// note; a configured local file that cannot be read is an error.
    pub fn load(text: &PromptSource, image: &PromptSource) -> Result<PromptSet, SynthError> {
        let mut set = PromptSet::builtin();
        if let Some(prompts) = resolve(text, &mut set.notes)? {
            set.conversations = prompts.into_iter().map(Prompt::into_conversation).collect();
        }
        if let Some(prompts) = resolve(image, &mut set.notes)? {
            set.images = prompts.into_iter().map(Prompt::into_text).collect();
        }
        Ok(set)
    }
}

/// The built-in files parse: a unit test proves it.
fn builtin(text: &str, field: &str) -> Vec<Prompt> {
    parse_jsonl(text, field, Path::new("built-in")).unwrap_or_default()
}

fn resolve(
    source: &PromptSource,
    notes: &mut Vec<String>,
) -> Result<Option<Vec<Prompt>>, SynthError> {
    let found = resolve_any(source, notes)?;
    match found {
        Some(prompts) if prompts.is_empty() => Err(SynthError::NoPrompts(format!("{source:?}"))),
        other => Ok(other),
    }
}

fn resolve_any(
    source: &PromptSource,
    notes: &mut Vec<String>,
) -> Result<Option<Vec<Prompt>>, SynthError> {
    match source {
        PromptSource::Builtin => Ok(None),
        PromptSource::File { path, field } => load_file(path, field).map(Some),
        PromptSource::HuggingFace {
            dataset,
            split,
            field,
            cache,
        } => {
            let files = hf_parquet_files(cache, dataset, split);
            let Some(first) = files.first() else {
                notes.push(format!(
                    "dataset {dataset} is not in the Hugging Face cache ({}); using the built-in prompts",
                    cache.display()
                ));
                return Ok(None);
            };
            load_parquet(first, field).map(Some)
        }
    }
}

/// Reads the prompts of `field` from a file, by its extension.
pub fn load_file(path: &Path, field: &str) -> Result<Vec<Prompt>, SynthError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let prompts = match ext.as_str() {
        "parquet" => load_parquet(path, field)?,
        "jsonl" | "json" | "csv" => {
            let text = std::fs::read_to_string(path).map_err(|source| SynthError::PromptIo {
                path: path.to_path_buf(),
                source,
            })?;
            if ext == "csv" {
                parse_csv(&text, field, path)?
            } else {
                parse_jsonl(&text, field, path)?
            }
        }
        other => {
            return Err(SynthError::PromptFormat {
                path: path.to_path_buf(),
                message: format!("unknown extension `{other}`: use .jsonl, .csv or .parquet"),
            })
        }
    };
    if prompts.is_empty() {
        return Err(SynthError::NoPrompts(path.display().to_string()));
    }
    Ok(prompts)
}

/// A JSON value as a prompt: a string, or a list of `{role, content}`.
fn from_json(value: &Value) -> Option<Prompt> {
    match value {
        Value::String(s) => Some(Prompt::Text(s.clone())),
        Value::Array(items) => {
            let turns: Vec<Turn> = items
                .iter()
                .filter_map(|t| {
                    Some(Turn {
                        role: t.get("role")?.as_str()?.to_string(),
                        content: t.get("content")?.as_str()?.to_string(),
                    })
                })
                .collect();
            (!turns.is_empty()).then_some(Prompt::Conversation(turns))
        }
        _ => None,
    }
}

/// One JSON object per line; lines without the field are skipped, a line
/// that is not JSON is an error naming it.
pub fn parse_jsonl(text: &str, field: &str, origin: &Path) -> Result<Vec<Prompt>, SynthError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line).map_err(|e| SynthError::PromptFormat {
            path: origin.to_path_buf(),
            message: format!("line {}: {e}", n + 1),
        })?;
        if let Some(prompt) = value.get(field).and_then(from_json) {
            if prompt.usable() && out.len() < MAX_PROMPTS {
                out.push(prompt);
            }
        }
    }
    Ok(out)
}

/// A CSV with a header; the column by name. A cell holding a JSON list is
/// read as a conversation.
pub fn parse_csv(text: &str, field: &str, origin: &Path) -> Result<Vec<Prompt>, SynthError> {
    let csv_err = |source| SynthError::PromptCsv {
        path: origin.to_path_buf(),
        source,
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let column = reader
        .headers()
        .map_err(csv_err)?
        .iter()
        .position(|h| h == field)
        .ok_or_else(|| SynthError::PromptFormat {
            path: origin.to_path_buf(),
            message: format!("no column `{field}` in the header"),
        })?;
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_err)?;
        let Some(cell) = record.get(column) else {
            continue;
        };
        let prompt = match cell.trim_start().starts_with('[') {
            true => serde_json::from_str::<Value>(cell)
                .ok()
                .and_then(|v| from_json(&v))
                .unwrap_or_else(|| Prompt::Text(cell.to_string())),
            false => Prompt::Text(cell.to_string()),
        };
        if prompt.usable() && out.len() < MAX_PROMPTS {
            out.push(prompt);
        }
    }
    Ok(out)
}

/// One Parquet file's column: strings, or lists of `{role, content}`
/// structs; at most [`MAX_PROMPTS`] rows are read.
pub fn load_parquet(path: &Path, field: &str) -> Result<Vec<Prompt>, SynthError> {
    let pq = |source| SynthError::PromptParquet {
        path: path.to_path_buf(),
        source,
    };
    let source = PlRefPath::try_from_path(path).map_err(pq)?;
    let frame = LazyFrame::scan_parquet(source, ScanArgsParquet::default())
        .map_err(pq)?
        .select([col(field)])
        .limit(MAX_PROMPTS as IdxSize)
        .collect()
        .map_err(pq)?;
    let column = frame.column(field).map_err(pq)?.as_materialized_series();
    let mut out = Vec::new();
    match column.dtype() {
        DataType::String => {
            for text in column.str().map_err(pq)?.iter().flatten() {
                out.push(Prompt::Text(text.to_string()));
            }
        }
        DataType::List(_) => {
            for turns in column.list().map_err(pq)?.amortized_iter().flatten() {
                if let Some(prompt) = conversation(turns.as_ref()).map_err(pq)? {
                    out.push(prompt);
                }
            }
        }
        other => {
            return Err(SynthError::PromptFormat {
                path: path.to_path_buf(),
                message: format!(
                    "column `{field}` is {other}: expected text or a list of {{role, content}}"
                ),
            })
        }
    }
    out.retain(Prompt::usable);
    Ok(out)
}

/// A list cell of `{role, content}` structs as a conversation.
fn conversation(turns: &Series) -> PolarsResult<Option<Prompt>> {
    let DataType::Struct(_) = turns.dtype() else {
        return Ok(None);
    };
    let turns = turns.struct_()?;
    let role = turns.field_by_name("role")?;
    let content = turns.field_by_name("content")?;
    let out: Vec<Turn> = role
        .str()?
        .iter()
        .zip(content.str()?.iter())
        .filter_map(|(r, c)| {
            Some(Turn {
                role: r?.to_string(),
                content: c?.to_string(),
            })
        })
        .collect();
    Ok((!out.is_empty()).then_some(Prompt::Conversation(out)))
}

/// The hub cache: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
/// `~/.cache/huggingface/hub`.
pub fn hf_cache_dir(var: impl Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(dir) = var("HF_HUB_CACHE") {
        return PathBuf::from(dir);
    }
    if let Some(home) = var("HF_HOME") {
        return PathBuf::from(home).join("hub");
    }
    PathBuf::from(var("HOME").unwrap_or_else(|| ".".into()))
        .join(".cache")
        .join("huggingface")
        .join("hub")
}

/// The Parquet files of `dataset` in the cache
/// (`datasets--OWNER--NAME/snapshots/*/**.parquet`), sorted, those whose
/// path names `split` first.
pub fn hf_parquet_files(cache: &Path, dataset: &str, split: &str) -> Vec<PathBuf> {
    let folder = format!("datasets--{}", dataset.replace('/', "--"));
    let mut files = Vec::new();
    let snapshots = cache.join(folder).join("snapshots");
    collect_parquet(&snapshots, 0, &mut files);
    files.sort_by_key(|p| (!p.to_string_lossy().contains(split), p.clone()));
    files
}

fn collect_parquet(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    // Snapshots are shallow; the bound keeps a symlink loop harmless.
    if depth > 6 {
        return;
    }
    let Ok(items) = std::fs::read_dir(dir) else {
        return;
    };
    for item in items.flatten() {
        let path = item.path();
        if path.is_dir() {
            collect_parquet(&path, depth + 1, out);
        } else if path.extension().is_some_and(|e| e == "parquet") {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn the_builtin_set_is_large_and_parses() {
        let set = PromptSet::builtin();
        assert!(
            set.conversations.len() >= 300,
            "{}",
            set.conversations.len()
        );
        assert!(set.images.len() >= 200, "{}", set.images.len());
        assert!(set
            .conversations
            .iter()
            .all(|c| c.last().is_some_and(|t| t.role == "user")));
    }

    #[test]
    fn jsonl_reads_texts_and_conversations_by_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "p.jsonl",
            concat!(
                "{\"q\": \"plain question\"}\n",
                "\n",
                "{\"q\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"hello\"}]}\n",
                "{\"other\": \"skipped\"}\n",
                "{\"q\": \"   \"}\n",
            ),
        );
        let got = load_file(&path, "q").unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], Prompt::Text("plain question".into()));
        match &got[1] {
            Prompt::Conversation(turns) => assert_eq!(turns[1].content, "hello"),
            other => panic!("{other:?}"),
        }
        let bad = write(dir.path(), "bad.jsonl", "{\"q\": 1}\nnot json\n");
        let err = load_file(&bad, "q").unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(matches!(
            load_file(&path, "nope"),
            Err(SynthError::NoPrompts(_))
        ));
    }

    #[test]
    fn csv_reads_the_named_column_and_json_cells() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "p.csv",
            "id,prompt\n1,\"a red bicycle, pencil sketch\"\n2,\"[{\"\"role\"\": \"\"user\"\", \"\"content\"\": \"\"tell me a joke\"\"}]\"\n3,\n",
        );
        let got = load_file(&path, "prompt").unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], Prompt::Text("a red bicycle, pencil sketch".into()));
        assert_eq!(got[1].clone().into_text(), "tell me a joke");
        let err = load_file(&path, "text").unwrap_err().to_string();
        assert!(err.contains("no column `text`"), "{err}");
    }

    fn write_parquet(path: &Path, mut frame: DataFrame) {
        let file = std::fs::File::create(path).unwrap();
        ParquetWriter::new(file).finish(&mut frame).unwrap();
    }

    #[test]
    fn parquet_reads_text_and_conversation_columns() {
        let dir = tempfile::tempdir().unwrap();
        let texts = dir.path().join("images.parquet");
        write_parquet(
            &texts,
            df!("prompts" => ["a fox in the snow", "a koi pond"], "n" => [1i32, 2]).unwrap(),
        );
        let got = load_file(&texts, "prompts").unwrap();
        assert_eq!(
            got,
            [
                Prompt::Text("a fox in the snow".into()),
                Prompt::Text("a koi pond".into())
            ]
        );

        // The WildChat shape: a list of {role, content} structs per row.
        let turn = |role: &str, content: &str| {
            StructChunked::from_series(
                "t".into(),
                1,
                [
                    Series::new("role".into(), [role]),
                    Series::new("content".into(), [content]),
                ]
                .iter(),
            )
            .unwrap()
            .into_series()
        };
        let mut first = turn("user", "what is rust?");
        first.append(&turn("assistant", "a language")).unwrap();
        let second = turn("user", "and polars?");
        let list = Series::new("conversation".into(), [first, second]);
        let convs = dir.path().join("chat.parquet");
        write_parquet(&convs, DataFrame::new(2, vec![list.into()]).unwrap());
        let got = load_file(&convs, "conversation").unwrap();
        assert_eq!(got.len(), 2);
        match &got[0] {
            Prompt::Conversation(turns) => {
                assert_eq!(turns.len(), 2);
                assert_eq!(turns[0].content, "what is rust?");
            }
            other => panic!("{other:?}"),
        }
        let err = load_file(&texts, "n").unwrap_err().to_string();
        assert!(err.contains("expected text"), "{err}");
    }

    #[test]
    fn a_cached_dataset_is_found_and_a_missing_one_falls_back_once() {
        let cache = tempfile::tempdir().unwrap();
        let snap = cache
            .path()
            .join("datasets--Falah--image_generation_prompts_SDXL/snapshots/abc123/data");
        std::fs::create_dir_all(&snap).unwrap();
        write_parquet(
            &snap.join("train-00000-of-00001.parquet"),
            df!("prompts" => ["a windmill beside a canal"]).unwrap(),
        );
        write_parquet(
            &snap.join("test-00000-of-00001.parquet"),
            df!("prompts" => ["test split"]).unwrap(),
        );
        let files = hf_parquet_files(cache.path(), "Falah/image_generation_prompts_SDXL", "train");
        assert_eq!(files.len(), 2);
        assert!(files[0].ends_with("train-00000-of-00001.parquet"));

        let hf = |dataset: &str| PromptSource::HuggingFace {
            dataset: dataset.into(),
            split: "train".into(),
            field: "prompts".into(),
            cache: cache.path().to_path_buf(),
        };
        let set = PromptSet::load(
            &hf("allenai/WildChat-1M"),
            &hf("Falah/image_generation_prompts_SDXL"),
        )
        .unwrap();
        assert_eq!(set.images, ["a windmill beside a canal"]);
        assert_eq!(
            set.conversations.len(),
            PromptSet::builtin().conversations.len()
        );
        assert_eq!(set.notes.len(), 1, "{:?}", set.notes);
        assert!(set.notes[0].contains("allenai/WildChat-1M is not in the Hugging Face cache"));
        assert!(set.notes[0].contains("built-in"));
    }

    #[test]
    fn the_cache_dir_follows_the_hf_variables() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            hf_cache_dir(env(&[("HOME", "/h")])),
            Path::new("/h/.cache/huggingface/hub")
        );
        assert_eq!(
            hf_cache_dir(env(&[("HOME", "/h"), ("HF_HOME", "/hf")])),
            Path::new("/hf/hub")
        );
        assert_eq!(
            hf_cache_dir(env(&[("HF_HUB_CACHE", "/c"), ("HF_HOME", "/hf")])),
            Path::new("/c")
        );
    }
}
