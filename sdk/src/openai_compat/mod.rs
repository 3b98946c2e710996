//! The OpenAI Chat Completions dialect, shared by every plugin whose provider
//! speaks it (OpenAI itself, Azure OpenAI, Alibaba DashScope's compatible mode,
//! vLLM, Ollama, …).
//!
//! Such providers differ only in where the request goes, how it is
//! authenticated and a few extra body fields; the body, the answer, the stream
//! chunks and the error envelope are the same. Keeping that one translation
//! here means a fix to it reaches every such plugin, and no plugin carries a
//! copy. A plugin builds its URL, calls [`body`], adds its own fields, and
//! hands the result to [`prepared`]; it parses with [`completion`], [`chunk`]
//! and [`error`]. Embeddings are [`embedding_body`] and [`embeddings`].

mod embedding;
pub mod models;
mod request;
mod response;

pub use embedding::{embedding_body, embeddings};
pub use request::{OPENAI_IMAGE_TYPES, body, prepared, probe};
pub use response::{chunk, completion, error};
