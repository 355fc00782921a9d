//! Chat: chatbots, prompt and tone templates, conversations and messages, retrieval-augmented
//! answering and citations. It reaches documents (retrieval) and providers (the model) through
//! their crates' ports — the only two domain-to-domain edges in the workspace.
//!
//! Filled by the chatbots-and-providers issue.

pub use docent_documents::DocumentStatus;
pub use docent_providers::ProviderKind;
