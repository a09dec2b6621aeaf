//! The Kiro upstream (`generateAssistantResponse`), pure: request building with every hidden
//! rule, the AWS event-stream codec, event decoding, the `<thinking>` splitter, and error
//! classification. No I/O and no Pingora types.

pub mod errors;
pub mod events;
pub mod eventstream;
pub mod headers;
pub mod models;
pub mod normalize;
pub mod request;
pub mod response;
pub mod thinking;
