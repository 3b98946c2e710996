//! Image parts checked against what one provider reads, so a caller's mistake
//! (a type the provider refuses, an address where it wants bytes, a `data:`
//! URL that is not base64) is refused by place before anything is sent,
//! instead of coming back as the provider's 400 or being silently dropped.

use crate::{ContentPart, ImagePart, Message, ProviderError};
use std::fmt;

/// What one provider takes: the image media types it reads (lowercase, as
/// the provider documents them), and whether it fetches images by address.
pub struct Accepts {
    /// The provider's name, for errors.
    pub provider: &'static str,
    /// Media types an inline image may have.
    pub media_types: &'static [&'static str],
    /// Whether an image may be given by address (else only as a `data:` URL).
    pub urls: bool,
}

/// Where an image sits in the request, shown as `messages[1].content[2]`
/// (indices from 0, as the caller wrote the messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At {
    /// The message's index.
    pub message: usize,
    /// The part's index within the message's content.
    pub part: usize,
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "messages[{}].content[{}]", self.message, self.part)
    }
}

/// Every image part of `messages` with its place.
pub fn images(messages: &[Message]) -> impl Iterator<Item = (At, &ImagePart)> {
    messages.iter().enumerate().flat_map(|(message, m)| {
        m.content.iter().enumerate().filter_map(move |(part, p)| match p {
            ContentPart::Image(image) => Some((At { message, part }, image)),
            ContentPart::Text(_) => None,
        })
    })
}

impl Accepts {
    /// Check every image of `messages`; the first that this provider cannot
    /// take is the error, naming its place and why.
    pub fn check(&self, messages: &[Message]) -> Result<(), ProviderError> {
        images(messages).try_for_each(|(at, image)| self.check_one(image, at))
    }

    /// Check one image (see [`Accepts::check`]).
    pub fn check_one(&self, image: &ImagePart, at: At) -> Result<(), ProviderError> {
        match image.url.strip_prefix("data:") {
            Some(rest) => {
                let Some((media_type, data)) = rest.split_once(";base64,") else {
                    return Err(ProviderError::invalid(format!(
                        "{at}: an image data: URL must be base64 (data:<type>;base64,<data>)"
                    )));
                };
                self.media_type(media_type, at)?;
                if !is_base64(data) {
                    return Err(ProviderError::invalid(format!(
                        "{at}: the image's data is not base64 (A-Z, a-z, 0-9, +, / and = padding, no line breaks)"
                    )));
                }
                Ok(())
            }
            // The address is not quoted: a signed URL is a credential.
            None if !self.urls => Err(ProviderError::invalid(format!(
                "{at}: {} takes images inline only, not by address: give the image as a data: URL \
                 (data:<type>;base64,<data>)",
                self.provider
            ))),
            None => Ok(()),
        }
    }

    /// `media_type` if this provider reads it, else an error naming the ones it does.
    pub fn media_type(&self, media_type: &str, at: At) -> Result<&'static str, ProviderError> {
        self.media_types.iter().copied().find(|t| *t == media_type).ok_or_else(|| {
            ProviderError::invalid(format!(
                "{at}: {} does not take {media_type:?} images (it takes {})",
                self.provider,
                self.media_types.join(", ")
            ))
        })
    }
}

/// Standard base64: the alphabet, at most two `=` at the end, a multiple of
/// four long; providers refuse anything else (URL-safe letters, line breaks).
fn is_base64(data: &str) -> bool {
    let body = data.trim_end_matches('=');
    !data.is_empty()
        && data.len().is_multiple_of(4)
        && data.len() - body.len() <= 2
        && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Role;

    const PICKY: Accepts = Accepts { provider: "Picky", media_types: &["image/png", "image/jpeg"], urls: false };
    const EASY: Accepts = Accepts { provider: "Easy", media_types: &["image/png"], urls: true };

    fn with(urls: &[&str]) -> Vec<Message> {
        let mut m = Message::new(Role::User, "look");
        m.content.extend(urls.iter().map(|u| ContentPart::Image(ImagePart { url: (*u).into(), detail: None })));
        vec![Message::new(Role::System, "be brief"), m]
    }

    fn error(accepts: &Accepts, urls: &[&str]) -> String {
        accepts.check(&with(urls)).unwrap_err().message
    }

    #[test]
    fn inline_images_of_accepted_types_pass() {
        assert!(PICKY.check(&with(&["data:image/png;base64,iVBORw0KGgo=", "data:image/jpeg;base64,/9j/4AAQ"])).is_ok());
        assert!(EASY.check(&with(&["https://x.test/a.png", "data:image/png;base64,iVBORw0KGgo="])).is_ok());
        let places: Vec<String> = images(&with(&["https://a", "https://b"])).map(|(at, _)| at.to_string()).collect();
        assert_eq!(places, ["messages[1].content[1]", "messages[1].content[2]"]);
    }

    #[test]
    fn refusals_name_the_part_and_the_reason() {
        assert_eq!(
            error(&PICKY, &["data:image/png;base64,AAAA", "data:image/bmp;base64,Qk0="]),
            "messages[1].content[2]: Picky does not take \"image/bmp\" images (it takes image/png, image/jpeg)"
        );
        let by_address = error(&PICKY, &["https://x.test/cat.png?X-Amz-Signature=secret"]);
        assert!(by_address.starts_with("messages[1].content[1]: Picky takes images inline only"), "{by_address}");
        assert!(!by_address.contains("secret"), "{by_address}");
        assert!(error(&EASY, &["data:image/png,%89PNG"]).contains("must be base64"));
        for bad in ["", "iVBO\nRw0K", "iVBORw0KGgo", "a-_b", "AA===", "=AAA"] {
            let message = error(&EASY, &[&format!("data:image/png;base64,{bad}")]);
            assert!(
                message.starts_with("messages[1].content[1]: the image's data is not base64"),
                "{bad:?}: {message}"
            );
        }
    }
}
