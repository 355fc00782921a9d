//! The templates, compiled into the binary and rendered with autoescaping: every value a page
//! shows (names, titles, messages) is HTML-escaped unless a template says otherwise, and none
//! does.

use minijinja::Environment;
use serde::Serialize;

/// Every template, by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("signup.html", include_str!("../templates/signup.html")),
    ("home.html", include_str!("../templates/home.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("forgot.html", include_str!("../templates/forgot.html")),
    ("reset.html", include_str!("../templates/reset.html")),
    ("invite.html", include_str!("../templates/invite.html")),
    ("account.html", include_str!("../templates/account.html")),
    ("org_base.html", include_str!("../templates/org_base.html")),
    ("org.html", include_str!("../templates/org.html")),
    ("members.html", include_str!("../templates/members.html")),
    ("settings.html", include_str!("../templates/settings.html")),
    ("audit.html", include_str!("../templates/audit.html")),
    (
        "documents.html",
        include_str!("../templates/documents.html"),
    ),
    ("document.html", include_str!("../templates/document.html")),
    (
        "providers.html",
        include_str!("../templates/providers.html"),
    ),
    ("provider.html", include_str!("../templates/provider.html")),
    (
        "chatbot_fields.html",
        include_str!("../templates/chatbot_fields.html"),
    ),
    ("chatbots.html", include_str!("../templates/chatbots.html")),
    ("chatbot.html", include_str!("../templates/chatbot.html")),
    (
        "playground.html",
        include_str!("../templates/playground.html"),
    ),
    ("keys.html", include_str!("../templates/keys.html")),
    ("usage.html", include_str!("../templates/usage.html")),
    ("visitors.html", include_str!("../templates/visitors.html")),
];

/// The compiled templates.
#[derive(Debug)]
pub(crate) struct Renderer {
    env: Environment<'static>,
}

impl Renderer {
    /// Compiles every template; a template that does not compile is logged and then renders as
    /// the error page (the crate's tests compile them all).
    pub(crate) fn new() -> Self {
        let mut env = Environment::new();
        // `.html` templates escape every value (minijinja's default for the extension); say it
        // outright so a renamed template cannot lose it.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        for (name, source) in TEMPLATES {
            if let Err(error) = env.add_template(name, source) {
                tracing::error!(%error, template = name, "a console template does not compile");
            }
        }
        Self { env }
    }

    /// Renders `name` with `context`; a failure renders a plain message and is logged.
    pub(crate) fn page(&self, name: &str, context: impl Serialize) -> String {
        self.env
            .get_template(name)
            .and_then(|template| {
                template.render(minijinja::value::Value::from(minijinja::value::Serde(
                    context,
                )))
            })
            .unwrap_or_else(|error| {
                tracing::error!(%error, template = name, "a console page could not be rendered");
                "<!doctype html><title>docent</title><p>This page could not be shown.</p>"
                    .to_owned()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_file_is_compiled_in() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        let mut listed: Vec<String> = TEMPLATES
            .iter()
            .map(|(name, _)| (*name).to_owned())
            .collect();
        listed.sort();
        assert_eq!(files, listed);
        let renderer = Renderer::new();
        for (name, _) in TEMPLATES {
            assert!(
                renderer.env.get_template(name).is_ok(),
                "{name} does not compile"
            );
        }
    }

    #[test]
    fn every_template_compiles_and_escapes() {
        let renderer = Renderer::new();
        // Every template renders with every value a page may give it (an unknown filter or a
        // bad expression fails only when rendered).
        let full = minijinja::context! {
            csrf => "0".repeat(64), error => "e", flash => "f", email => "a@b.c", name => "n",
            next => "/accept-invitation?token=x", token => "t", title => "t", message => "m",
            user => minijinja::context! { name => "n", email => "a@b.c" },
            orgs => vec![minijinja::context! { id => "i", name => "n", slug => "s", role => "owner" }],
            sessions => vec![minijinja::context! { id => "i", created_at => "c", last_seen_at => "l", current => false }],
            org => minijinja::context! { id => "o", name => "n", slug => "s" }, role => "owner", tab => "members",
            can => minijinja::context! { write => true, admin => true, invite => true, keys => true, providers => true, rename => true, delete => true },
            switch => vec![minijinja::context! { id => "o", name => "n", current => true }],
            members => vec![minijinja::context! { id => "u", name => "n", email => "e", role => "admin", joined_at => "j", you => false }],
            invitations => vec![minijinja::context! { id => "i", email => "e", role => "viewer", expires_at => "x" }],
            roles => vec!["owner", "admin", "member", "viewer"],
            events => vec![minijinja::context! { at => "a", actor => "a", action => "x.y", target => "t", detail => "d" }],
            actors => vec![minijinja::context! { id => "u", label => "l", selected => true }],
            action => "x.y", next => "cursor=c",
            documents => vec![minijinja::context! { id => "d", title => "t", file_name => "f", status => "processing", pending => true, done => 1, total => 2, chunks => 0, tags => vec!["a"], failure => "x", size => "1 KB", created_at => "c" }],
            document => minijinja::context! { id => "d", title => "t", file_name => "f", media_type => "text/plain", status => "failed", pending => false, done => 0, total => 0, chunks => 0, tags => vec!["a"], failure => "x", size => "1 KB", created_at => "c" },
            chunks => vec![minijinja::context! { ordinal => 0, page => 1, section => "s", tokens => 3, text => "t", cited => true }],
            statuses => vec!["queued", "ready"], filter_status => "ready", filter_tag => "a", pending => true,
            providers => vec![minijinja::context! { id => "p", name => "n", kind => "openai", kind_label => "OpenAI", base_url => "u", effective_url => "u", default_url => "u", default_model => "m", key_last4 => "abcd", timeout_secs => 30 }],
            provider => minijinja::context! { id => "p", name => "n", kind => "azure_openai", kind_label => "Azure", base_url => "u", effective_url => "u", default_url => "u", default_model => "m", api_version => "v", key_last4 => "abcd", timeout_secs => 30 },
            kinds => vec![minijinja::context! { id => "openai", label => "OpenAI" }], needs_key => false,
            report => minijinja::context! { ok => false, latency_ms => 12, model => "m", remote => true, error => "e" },
            chatbots => vec![minijinja::context! { id => "b", name => "n", slug => "s", model => "m", tone => "concise", updated_at => "u" }],
            chatbot => minijinja::context! { id => "b", name => "n", slug => "s", welcome => "w" },
            bot => minijinja::context! { name => "n", provider => "p", model => "m", system_prompt => "s", tone => "custom", tone_custom => "t", temperature => "0.2", max_answer_tokens => "1", context_window => "2", top_k => "3", min_score => "0.3", scope => "documents", scope_tags => "a", scope_documents => vec!["d"], welcome_message => "w", fallback_answer => "f", citation_style => "inline" },
            choices => minijinja::context! { providers => vec![minijinja::context! { id => "p", name => "n", model => "m" }], tones => vec![minijinja::context! { id => "concise", description => "d" }], styles => vec!["inline"], documents => vec![minijinja::context! { id => "d", title => "t" }] },
            preview => "p", conversation => "c",
            messages => vec![minijinja::context! { role => "assistant", incomplete => true, pieces => vec![minijinja::context! { text => "[1]", n => 1, href => "/h" }], citations => vec![minijinja::context! { n => 1, title => "t", page => 2, section => "s", href => "/h" }] }],
            keys => vec![minijinja::context! { id => "k", name => "n", shown => "dk_…abcd", scopes => vec!["chat"], chatbots => vec!["b"], expires_at => "e", rate_limit => 1, message_quota => 2, token_quota => 3, status => "active", origins => vec!["https://a.example"], created_at => "c", last_used_at => "l", requests => 4, tokens => 5 }],
            scopes => vec![minijinja::context! { id => "chat", meaning => "m" }], bots => vec![minijinja::context! { id => "b", name => "n" }],
            key => minijinja::context! { name => "n", scopes => vec!["chat"], every_chatbot => false, chatbots => vec!["b"], expires_on => "2027-01-01", rate_limit => "1", message_quota => "2", token_quota => "3", chatbot => "b", origins => "https://a.example" },
            issued => minijinja::context! { name => "n", secret => "dk_live_x", embed => "<script>" },
            charts => vec![minijinja::context! { title => "t", unit => "u", max => 3, first => "f", last => "l", bars => vec![minijinja::context! { x => 1, y => 2, width => 3, height => 4, label => "l", value => 5 }] }],
            width => 600, height => 160, month => "December 2026", can_filter_keys => true,
            filter_bots => vec![minijinja::context! { id => "b", name => "n", selected => true }],
            filter_keys => vec![minijinja::context! { id => "k", name => "n", selected => false }],
            per_bot => vec![minijinja::context! { name => "n", requests => 1, tokens => 2 }],
            per_key => vec![minijinja::context! { name => "n", requests => 1, tokens => 2 }],
            quota => vec![minijinja::context! { what => "Messages", used => 1, limit => 10, left => 9, percent => 10 }],
            widget_keys => 1, embed => "<script>", publishable => true,
            conversations => vec![minijinja::context! { key => "k", key_name => "n", id => "c", title => "t", started => "s", open => true }],
            failure_code => "extract_error", advice => "a", can_reprocess => true, first_page => true, max_upload => "50 MB",
        };
        for (name, _) in TEMPLATES {
            let rendered = renderer
                .env
                .get_template(name)
                .and_then(|t| t.render(full.clone()));
            assert!(rendered.is_ok(), "{name}: {rendered:?}");
        }
        let page = renderer.page(
            "error.html",
            minijinja::context! { title => "x", message => "<script>alert(1)</script>" },
        );
        assert!(page.contains("&lt;script&gt;"), "{page}");
        assert!(!page.contains("<script>alert"), "{page}");
    }
}
