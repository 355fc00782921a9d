//! The console's home: the signed-in person's organizations and a form to create one, through
//! the tenancy service (its name rules and audit event).

use docent_kernel::PageRequest;
use poem::http::StatusCode;
use poem::web::Data;
use poem::{Body, Request, Response, handler};
use serde::{Deserialize, Serialize};

use super::{Posted, flash, posted, redirect};
use crate::Console;
use crate::session::current;

#[derive(Debug, Serialize)]
struct OrgRow {
    id: String,
    name: String,
    slug: String,
    role: &'static str,
}

/// `GET /`: the home page, or the sign-in page for a visitor.
#[handler]
pub(crate) async fn home(req: &Request, console: Data<&Console>) -> Response {
    let Some((principal, _)) = current(&console, req).await else {
        return redirect("/login", Vec::new());
    };
    render(&console, req, &principal, StatusCode::OK, None).await
}

async fn render(
    console: &Console,
    req: &Request,
    principal: &docent_identity::Principal,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let orgs = super::listed(
        "organizations",
        console
            .services
            .tenancy
            .list_orgs(principal.user.id, &PageRequest::largest_first())
            .await,
    );
    let rows: Vec<OrgRow> = orgs
        .into_iter()
        .map(|o| OrgRow {
            id: o.org.id.to_string(),
            name: o.org.name.as_str().to_owned(),
            slug: o.org.slug.as_str().to_owned(),
            role: o.role.as_str(),
        })
        .collect();
    let context = minijinja::context! {
        user => minijinja::context! {
            name => principal.user.name.as_str(),
            email => principal.user.email.as_str(),
        },
        orgs => minijinja::value::Value::from(minijinja::value::Serde(&rows)),
        error,
    };
    super::form_page(console, req, "home.html", status, context)
}

#[derive(Debug, Deserialize)]
struct NewOrg {
    csrf: Option<String>,
    #[serde(default)]
    name: String,
}

impl Posted for NewOrg {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}

/// `POST /orgs`: creates an organization owned by the signed-in person.
#[handler]
pub(crate) async fn create_org(req: &Request, body: Body, console: Data<&Console>) -> Response {
    let posted = match posted::<NewOrg>(&console, req, body).await {
        Ok(posted) => posted,
        Err(refused) => return refused,
    };
    let Some((principal, _)) = current(&console, req).await else {
        return redirect("/login", Vec::new());
    };
    let meta = super::meta(&console, req);
    match console
        .services
        .tenancy
        .create_org(principal.user.id, &posted.name, &meta)
        .await
    {
        Ok(created) => redirect(
            "/",
            vec![flash(
                &console,
                &format!("Created {}.", created.org.name.as_str()),
            )],
        ),
        Err(error) => {
            let (status, message) = super::failure(error.kind(), &error);
            render(&console, req, &principal, status, Some(message)).await
        }
    }
}
