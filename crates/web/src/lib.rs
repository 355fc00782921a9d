//! The browser console: server-rendered pages over the same services as the JSON API (sign-up,
//! sign-in, sign-out and the organizations so far), with cookie sessions from the same revocable
//! session store, a CSRF token on every state-changing form, and headers that keep every page
//! inert to injected content (a strict Content-Security-Policy without inline scripts or
//! styles, `frame-ancestors 'none'`, `nosniff`, a same-origin referrer). Templates are files
//! rendered by minijinja with autoescaping; the one stylesheet is served from the binary.
//!
//! [`mount`] adds the console's routes to the application the binaries serve.

mod answers;
mod csrf;
mod pages;
mod render;
mod session;
mod widget;

use poem::{EndpointExt as _, Route, get, post};

use docent_app::Services;

pub use csrf::CSRF_FIELD;
pub use session::SESSION_COOKIE;

/// The console's state, shared by every page.
#[derive(Debug, Clone)]
pub(crate) struct Console {
    services: Services,
    render: std::sync::Arc<render::Renderer>,
    /// Cookies carry `Secure` when the console is served over TLS.
    secure_cookies: bool,
}

/// Adds the console's routes to `route`.
pub fn mount(services: Services) -> impl FnOnce(Route) -> Route + Send {
    move |route| {
        let console = Console {
            secure_cookies: services.config.public_url().starts_with("https://"),
            render: std::sync::Arc::new(render::Renderer::new()),
            services,
        };
        let pages = |ep| pages::secured(ep, console.clone());
        route
            .at("/", pages(get(pages::home::home).boxed()))
            .at(
                "/login",
                pages(
                    get(pages::auth::login_form)
                        .post(pages::auth::login)
                        .boxed(),
                ),
            )
            .at(
                "/signup",
                pages(
                    get(pages::auth::signup_form)
                        .post(pages::auth::signup)
                        .boxed(),
                ),
            )
            .at("/logout", pages(post(pages::auth::logout).boxed()))
            .at(
                "/forgot-password",
                pages(
                    get(pages::reset::forgot_form)
                        .post(pages::reset::forgot)
                        .boxed(),
                ),
            )
            .at(
                "/reset-password",
                pages(
                    get(pages::reset::reset_form)
                        .post(pages::reset::reset)
                        .boxed(),
                ),
            )
            .at("/orgs", pages(post(pages::home::create_org).boxed()))
            .at(
                "/account",
                pages(
                    get(pages::account::account)
                        .post(pages::account::update)
                        .boxed(),
                ),
            )
            .at(
                "/accept-invitation",
                pages(
                    get(pages::invite::landing)
                        .post(pages::invite::accept)
                        .boxed(),
                ),
            )
            .at("/orgs/:org", pages(get(pages::org::overview).boxed()))
            .at(
                "/orgs/:org/members",
                pages(
                    get(pages::org::member_list)
                        .post(pages::org::update_members)
                        .boxed(),
                ),
            )
            .at(
                "/orgs/:org/settings",
                pages(
                    get(pages::org::settings)
                        .post(pages::org::update_settings)
                        .boxed(),
                ),
            )
            .at(
                "/orgs/:org/audit",
                pages(get(pages::org::audit_log).boxed()),
            )
            .at(
                "/orgs/:org/documents",
                pages(
                    get(pages::documents::document_list)
                        .post(pages::documents::upload)
                        .boxed(),
                ),
            )
            .at(
                "/orgs/:org/documents/:document",
                pages(
                    get(pages::documents::document_page)
                        .post(pages::documents::update_document)
                        .boxed(),
                ),
            )
            .at(
                "/orgs/:org/providers",
                pages(
                    get(pages::providers::provider_list)
                        .post(pages::providers::create_provider)
                        .boxed(),
                ),
            )
            .at(
                "/orgs/:org/providers/:provider",
                pages(
                    get(pages::providers::provider_page)
                        .post(pages::providers::update_provider)
                        .boxed(),
                ),
            )
            .at(
                "/orgs/:org/chatbots",
                pages(
                    get(pages::chatbots::chatbot_list)
                        .post(pages::chatbots::create_chatbot)
                        .boxed(),
                ),
            )
            .at(
                "/orgs/:org/chatbots/:bot",
                pages(
                    get(pages::chatbots::chatbot_page)
                        .post(pages::chatbots::update_chatbot)
                        .boxed(),
                ),
            )
            .at(
                "/orgs/:org/chatbots/:bot/playground",
                pages(
                    get(pages::chatbots::playground)
                        .post(pages::chatbots::ask)
                        .boxed(),
                ),
            )
            .at(
                "/orgs/:org/chatbots/:bot/playground/stream",
                pages(post(pages::chatbots::ask_streamed).boxed()),
            )
            .at(
                "/orgs/:org/keys",
                pages(
                    get(pages::keys::key_list)
                        .post(pages::keys::update_keys)
                        .boxed(),
                ),
            )
            .at("/orgs/:org/usage", pages(get(pages::usage::usage).boxed()))
            .at(
                "/orgs/:org/chatbots/:bot/visitors",
                pages(get(pages::chatbots::visitors).boxed()),
            )
            .at("/static/console.js", pages(get(pages::script).boxed()))
            // The widget's: any website's pages call these, so they carry no console headers;
            // each request is admitted by its publishable key and origin.
            .at("/widget.js", get(widget::script).data(console.clone()))
            .at(
                "/widget/v1/config",
                get(widget::config)
                    .options(widget::preflight)
                    .data(console.clone()),
            )
            .at(
                "/widget/v1/chat",
                post(widget::chat)
                    .options(widget::preflight)
                    .data(console.clone()),
            )
            .at("/static/console.css", pages(get(pages::stylesheet).boxed()))
            .at("/static/favicon.svg", pages(get(pages::favicon).boxed()))
    }
}
