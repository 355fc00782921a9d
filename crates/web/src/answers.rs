//! An answer as Server-Sent Events, for the playground's script and the widget: `conversation`
//! (its id, sent first), `delta` (`{"text"}`), `citations` (`{"citations": […]}`, each shaped by the
//! caller), `done`, or `error` (`{"message"}`, in words; a failure of ours is logged, not shown).

use docent_chat::{AnswerEvent, AnswerStream, Citation};
use docent_kernel::ConversationId;
use futures_util::StreamExt as _;
use poem::web::sse::{Event, SSE};
use poem::{IntoResponse as _, Response};

/// How often an idle stream sends a comment, so proxies keep it open.
const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(15);

/// The `error` event for `message`.
pub(crate) fn error_event(message: &str) -> Event {
    Event::message(serde_json::json!({ "message": message }).to_string()).event_type("error")
}

/// A stream of just one `error` event: a refusal the page's script shows in words.
pub(crate) fn refusal(message: &str) -> Response {
    SSE::new(futures_util::stream::iter([error_event(message)])).into_response()
}

/// `answer` in `conversation` as Server-Sent Events, each citation shown by `cite`.
pub(crate) fn stream(
    conversation: ConversationId,
    answer: AnswerStream,
    cite: impl Fn(&Citation) -> serde_json::Value + Send + 'static,
) -> Response {
    let first = Event::message(conversation.to_string()).event_type("conversation");
    let events = answer.filter_map(move |event| {
        let out = match event {
            AnswerEvent::Delta(text) => Some(
                Event::message(serde_json::json!({ "text": text }).to_string()).event_type("delta"),
            ),
            AnswerEvent::Citations(citations) => {
                let shown: Vec<serde_json::Value> = citations.iter().map(&cite).collect();
                Some(
                    Event::message(serde_json::json!({ "citations": shown }).to_string())
                        .event_type("citations"),
                )
            }
            AnswerEvent::Usage(_) => None,
            AnswerEvent::Done(_) => Some(Event::message("{}").event_type("done")),
            AnswerEvent::Error(error) => {
                let (_, message) = crate::pages::failure(error.kind(), &error);
                Some(error_event(&message))
            }
        };
        std::future::ready(out)
    });
    SSE::new(futures_util::stream::iter([first]).chain(events))
        .keep_alive(HEARTBEAT)
        .into_response()
}
