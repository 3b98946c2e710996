//! The provider contract, one shim per released version (`wit/vX.Y`). The
//! host's own types are the newest version's ([`latest`]); each older
//! version's shim maps its types onto them, so the rest of the host never
//! sees which version a plugin was built for. A plugin's version is detected
//! once, at load, from the interface its component exports.

mod convert;
pub mod v0_1;
pub mod v0_2;
pub mod v0_3;
pub mod v0_4;

pub use v0_4 as latest;

use super::bindings::types;
use super::sandbox::Sandbox;
use wasmtime::Store;
use wasmtime::component::{HasSelf, InstancePre, Linker};

/// A contract version this host can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ContractVersion {
    /// `llmnode:provider@0.1.0`, the first release.
    V0_1,
    /// `llmnode:provider@0.2.0`: 0.1.0 plus embeddings.
    V0_2,
    /// `llmnode:provider@0.3.0`: 0.2.0 plus reasoning.
    V0_3,
    /// `llmnode:provider@0.4.0`: 0.3.0 plus grounding, modalities and finer prices.
    V0_4,
}

/// Every version this host runs, oldest first.
pub const SUPPORTED: [ContractVersion; 4] =
    [ContractVersion::V0_1, ContractVersion::V0_2, ContractVersion::V0_3, ContractVersion::V0_4];

/// The prefix of every version's provider export.
const EXPORT_PREFIX: &str = "llmnode:provider/provider@";

impl ContractVersion {
    /// The version as written in a WIT package, e.g. `0.2.0`.
    pub fn as_str(self) -> &'static str {
        match self {
            ContractVersion::V0_1 => "0.1.0",
            ContractVersion::V0_2 => "0.2.0",
            ContractVersion::V0_3 => "0.3.0",
            ContractVersion::V0_4 => "0.4.0",
        }
    }

    /// The interface a plugin of this version exports.
    fn export(self) -> &'static str {
        match self {
            ContractVersion::V0_1 => v0_1::EXPORT,
            ContractVersion::V0_2 => v0_2::EXPORT,
            ContractVersion::V0_3 => v0_3::EXPORT,
            ContractVersion::V0_4 => v0_4::EXPORT,
        }
    }

    /// The newest version, the one the SDK builds for.
    pub fn latest() -> Self {
        SUPPORTED[SUPPORTED.len() - 1]
    }

    /// The version a component's exports implement, or a sentence saying why
    /// none is supported (naming what the component does export).
    pub fn detect(exports: &[String]) -> Result<Self, String> {
        if let Some(v) = SUPPORTED.into_iter().find(|v| exports.iter().any(|e| e == v.export())) {
            return Ok(v);
        }
        let supported = SUPPORTED.map(ContractVersion::as_str).join(", ");
        Err(match exports.iter().find_map(|e| e.strip_prefix(EXPORT_PREFIX)) {
            Some(other) => format!(
                "exports llmnode:provider@{other}, a contract version this host does not run (supported: {supported})"
            ),
            None => format!(
                "is not an llmnode provider plugin: it exports no {EXPORT_PREFIX}VERSION interface (it exports: {}; supported versions: {supported})",
                if exports.is_empty() { "nothing".to_string() } else { exports.join(", ") }
            ),
        })
    }
}

impl std::fmt::Display for ContractVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The modalities a model of a contract older than 0.4.0 (which has none)
/// has, read from its capabilities: text in, plus images for a vision model;
/// text out, or vectors for an embedding model.
fn modalities_implied_by(caps: types::Capabilities) -> (types::Modalities, types::Modalities) {
    use types::{Capabilities as C, Modalities as M};
    let input = if caps.contains(C::VISION) { M::TEXT | M::IMAGE } else { M::TEXT };
    let output = if caps.contains(C::EMBEDDINGS) { M::EMBEDDING } else { M::TEXT };
    (input, output)
}

/// Define every supported version's imports (log, types) in `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<Sandbox>) -> wasmtime::Result<()> {
    v0_1::Plugin::add_to_linker::<Sandbox, HasSelf<Sandbox>>(linker, |s| s)?;
    v0_2::Plugin::add_to_linker::<Sandbox, HasSelf<Sandbox>>(linker, |s| s)?;
    v0_3::Plugin::add_to_linker::<Sandbox, HasSelf<Sandbox>>(linker, |s| s)?;
    v0_4::Plugin::add_to_linker::<Sandbox, HasSelf<Sandbox>>(linker, |s| s)
}

/// A linked plugin of a known version, ready to instantiate.
#[derive(Clone)]
pub(crate) enum ProviderPre {
    /// A 0.1.0 plugin.
    V0_1(v0_1::PluginPre<Sandbox>),
    /// A 0.2.0 plugin.
    V0_2(v0_2::PluginPre<Sandbox>),
    /// A 0.3.0 plugin.
    V0_3(v0_3::PluginPre<Sandbox>),
    /// A 0.4.0 plugin.
    V0_4(v0_4::PluginPre<Sandbox>),
}

impl ProviderPre {
    /// Check the component's exports against `version`'s world.
    pub fn new(version: ContractVersion, pre: InstancePre<Sandbox>) -> wasmtime::Result<Self> {
        Ok(match version {
            ContractVersion::V0_1 => ProviderPre::V0_1(v0_1::PluginPre::new(pre)?),
            ContractVersion::V0_2 => ProviderPre::V0_2(v0_2::PluginPre::new(pre)?),
            ContractVersion::V0_3 => ProviderPre::V0_3(v0_3::PluginPre::new(pre)?),
            ContractVersion::V0_4 => ProviderPre::V0_4(v0_4::PluginPre::new(pre)?),
        })
    }

    /// The linked component, for the optional interfaces it may export beside the contract.
    pub fn instance_pre(&self) -> &InstancePre<Sandbox> {
        match self {
            ProviderPre::V0_1(pre) => pre.instance_pre(),
            ProviderPre::V0_2(pre) => pre.instance_pre(),
            ProviderPre::V0_3(pre) => pre.instance_pre(),
            ProviderPre::V0_4(pre) => pre.instance_pre(),
        }
    }

    /// A fresh instance in `store`.
    pub fn instantiate(&self, store: &mut Store<Sandbox>) -> wasmtime::Result<Provider> {
        Ok(match self {
            ProviderPre::V0_1(pre) => Provider::V0_1(pre.instantiate(store)?),
            ProviderPre::V0_2(pre) => Provider::V0_2(pre.instantiate(store)?),
            ProviderPre::V0_3(pre) => Provider::V0_3(pre.instantiate(store)?),
            ProviderPre::V0_4(pre) => Provider::V0_4(pre.instantiate(store)?),
        })
    }
}

/// One instance of a plugin, whatever its version, speaking the host's types.
pub(crate) enum Provider {
    V0_1(v0_1::Plugin),
    V0_2(v0_2::Plugin),
    V0_3(v0_3::Plugin),
    V0_4(v0_4::Plugin),
}

type Outcome<T> = wasmtime::Result<Result<T, types::ProviderError>>;

/// Each method calls the plugin's function of the same name, in the host's types.
impl Provider {
    pub fn info(&self, s: &mut Store<Sandbox>) -> wasmtime::Result<types::PluginInfo> {
        match self {
            Provider::V0_1(w) => v0_1::info(w, s),
            Provider::V0_2(w) => v0_2::info(w, s),
            Provider::V0_3(w) => v0_3::info(w, s),
            Provider::V0_4(w) => w.llmnode_provider_provider().call_info(s),
        }
    }

    pub fn build_request(
        &self,
        s: &mut Store<Sandbox>,
        request: &types::ChatRequest,
        connection: &types::ConnectionSettings,
    ) -> Outcome<types::PreparedRequest> {
        match self {
            Provider::V0_1(w) => v0_1::build_request(w, s, request, connection),
            Provider::V0_2(w) => v0_2::build_request(w, s, request, connection),
            Provider::V0_3(w) => v0_3::build_request(w, s, request, connection),
            Provider::V0_4(w) => w.llmnode_provider_provider().call_build_request(s, request, connection),
        }
    }

    pub fn parse_response(
        &self,
        s: &mut Store<Sandbox>,
        response: &types::HttpResponse,
    ) -> Outcome<types::ChatResponse> {
        match self {
            Provider::V0_1(w) => v0_1::parse_response(w, s, response),
            Provider::V0_2(w) => v0_2::parse_response(w, s, response),
            Provider::V0_3(w) => v0_3::parse_response(w, s, response),
            Provider::V0_4(w) => w.llmnode_provider_provider().call_parse_response(s, response),
        }
    }

    pub fn parse_stream_event(
        &self,
        s: &mut Store<Sandbox>,
        event: &types::StreamEvent,
    ) -> Outcome<types::StreamDelta> {
        match self {
            Provider::V0_1(w) => v0_1::parse_stream_event(w, s, event),
            Provider::V0_2(w) => v0_2::parse_stream_event(w, s, event),
            Provider::V0_3(w) => v0_3::parse_stream_event(w, s, event),
            Provider::V0_4(w) => w.llmnode_provider_provider().call_parse_stream_event(s, event),
        }
    }

    pub fn classify_error(
        &self,
        s: &mut Store<Sandbox>,
        status: u16,
        headers: &[types::Header],
        body: &[u8],
    ) -> wasmtime::Result<types::ProviderError> {
        match self {
            Provider::V0_1(w) => v0_1::classify_error(w, s, status, headers, body),
            Provider::V0_2(w) => v0_2::classify_error(w, s, status, headers, body),
            Provider::V0_3(w) => v0_3::classify_error(w, s, status, headers, body),
            Provider::V0_4(w) => w.llmnode_provider_provider().call_classify_error(s, status, headers, body),
        }
    }

    pub fn test_request(
        &self,
        s: &mut Store<Sandbox>,
        connection: &types::ConnectionSettings,
        model: &str,
    ) -> Outcome<types::PreparedRequest> {
        match self {
            Provider::V0_1(w) => v0_1::test_request(w, s, connection, model),
            Provider::V0_2(w) => v0_2::test_request(w, s, connection, model),
            Provider::V0_3(w) => v0_3::test_request(w, s, connection, model),
            Provider::V0_4(w) => w.llmnode_provider_provider().call_test_request(s, connection, model),
        }
    }

    /// `None`: the plugin's contract has no embeddings.
    pub fn build_embedding_request(
        &self,
        s: &mut Store<Sandbox>,
        request: &types::EmbeddingRequest,
        connection: &types::ConnectionSettings,
    ) -> Option<Outcome<types::PreparedRequest>> {
        match self {
            Provider::V0_1(_) => None,
            Provider::V0_2(w) => Some(v0_2::build_embedding_request(w, s, request, connection)),
            Provider::V0_3(w) => Some(v0_3::build_embedding_request(w, s, request, connection)),
            Provider::V0_4(w) => {
                Some(w.llmnode_provider_provider().call_build_embedding_request(s, request, connection))
            }
        }
    }

    /// `None`: the plugin's contract has no embeddings.
    pub fn parse_embedding_response(
        &self,
        s: &mut Store<Sandbox>,
        response: &types::HttpResponse,
    ) -> Option<Outcome<types::EmbeddingResponse>> {
        match self {
            Provider::V0_1(_) => None,
            Provider::V0_2(w) => Some(v0_2::parse_embedding_response(w, s, response)),
            Provider::V0_3(w) => Some(v0_3::parse_embedding_response(w, s, response)),
            Provider::V0_4(w) => Some(w.llmnode_provider_provider().call_parse_embedding_response(s, response)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_supported_version_and_names_an_unsupported_one() {
        let exports = |e: &str| vec!["wasi:cli/run@0.2.0".to_string(), e.to_string()];
        assert_eq!(ContractVersion::detect(&exports("llmnode:provider/provider@0.1.0")), Ok(ContractVersion::V0_1));
        assert_eq!(ContractVersion::detect(&exports("llmnode:provider/provider@0.2.0")), Ok(ContractVersion::V0_2));
        assert_eq!(ContractVersion::detect(&exports("llmnode:provider/provider@0.3.0")), Ok(ContractVersion::V0_3));
        assert_eq!(ContractVersion::detect(&exports("llmnode:provider/provider@0.4.0")), Ok(ContractVersion::V0_4));
        let err = ContractVersion::detect(&exports("llmnode:provider/provider@0.9.0")).unwrap_err();
        assert!(
            err.contains("exports llmnode:provider@0.9.0") && err.contains("(supported: 0.1.0, 0.2.0, 0.3.0, 0.4.0)"),
            "{err}"
        );
        let err = ContractVersion::detect(&[]).unwrap_err();
        assert!(err.contains("not an llmnode provider plugin") && err.contains("nothing"), "{err}");
    }
}
