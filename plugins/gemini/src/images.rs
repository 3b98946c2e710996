//! Image parts as Gemini parts: a `data:` URL as `inlineData`, any other
//! address as `fileData` (Gemini fetches it). Gemini needs every image's type,
//! so an address must name it by its file extension.
//! https://ai.google.dev/gemini-api/docs/image-understanding and
//! https://ai.google.dev/gemini-api/docs/file-input-methods

use crate::request::Endpoint;
use llmnode_sdk::image::{self, At};
use llmnode_sdk::prelude::*;
use serde_json::{Value, json};

/// The image types Gemini reads.
const IMAGES: image::Accepts = image::Accepts {
    provider: "Gemini",
    media_types: &["image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"],
    urls: true,
};

/// Image types by file name extension, for images given by address.
const EXTENSIONS: &[(&str, &str)] = &[
    (".png", "image/png"),
    (".jpg", "image/jpeg"),
    (".jpeg", "image/jpeg"),
    (".webp", "image/webp"),
    (".heic", "image/heic"),
    (".heif", "image/heif"),
    (".gif", "image/gif"),
    (".bmp", "image/bmp"),
    (".tif", "image/tiff"),
    (".tiff", "image/tiff"),
    (".svg", "image/svg+xml"),
];

/// The Gemini part for the image at `at`.
pub fn part(image: &ImagePart, at: At) -> Result<Value, ProviderError> {
    IMAGES.check_one(image, at)?;
    if let Some((mime, data)) = image.inline() {
        return Ok(json!({ "inlineData": { "mimeType": mime, "data": data } }));
    }
    // The URL is not quoted in errors: a signed URL is a credential.
    let path = image.url.split(['?', '#']).next().unwrap_or_default().to_ascii_lowercase();
    let Some((_, mime)) = EXTENSIONS.iter().find(|(ext, _)| path.ends_with(ext)) else {
        return Err(ProviderError::invalid(format!(
            "{at}: Gemini needs an image's type: give the image as a data: URL, or by a URL ending in .png, .jpg, \
             .jpeg, .webp, .heic or .heif"
        )));
    };
    let mime = IMAGES.media_type(mime, at)?;
    Ok(json!({ "fileData": { "mimeType": mime, "fileUri": image.url } }))
}

/// The Gemini API fetches public `http(s)` addresses for Gemini 3 models and
/// later, not for the Gemini 2.0 family (Vertex AI fetches them for every
/// model): refused here, by name, rather than by the provider's 400.
pub fn check_fetch(req: &ChatRequest, endpoint: &Endpoint) -> Result<(), ProviderError> {
    let model = req.model.strip_prefix("models/").unwrap_or(&req.model);
    if !matches!(endpoint, Endpoint::GeminiApi { .. }) || !model.starts_with("gemini-2.0") {
        return Ok(());
    }
    let web = |url: &str| url.starts_with("https://") || url.starts_with("http://");
    match image::images(&req.messages).find(|(_, i)| web(&i.url) && !i.url.starts_with(FILES_API)) {
        Some((at, _)) => Err(ProviderError::invalid(format!(
            "{at}: on the Gemini API, {model} does not fetch images from web addresses (Gemini 3 models and \
             Vertex AI do): give the image as a data: URL, or upload it to the Files API and give its URI"
        ))),
        None => Ok(()),
    }
}

/// Where the Files API's files live: addresses Gemini reads for every model.
const FILES_API: &str = "https://generativelanguage.googleapis.com/v1beta/files/";
