//! `/workflows` and `/workflows/{name}`: each workflow in words, with its terms per gemeente
//! after configuration and plugin. No case data: not audited.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::{Chrome, PageError, Web, render};
use crate::catalog::{GemeenteTerms, WorkflowText};

#[derive(Template)]
#[template(path = "workflows.html")]
struct ListPage {
    chrome: Chrome,
    /// Link, title, the gemeenten it applies to, what starts it.
    workflows: Vec<(String, String, String, String)>,
}

#[derive(Template)]
#[template(path = "workflow.html")]
struct WorkflowPage {
    chrome: Chrome,
    workflow: WorkflowText,
    /// Only the gemeenten of the token.
    terms: Vec<GemeenteTerms>,
}

pub(super) async fn list(
    State(web): State<Web>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let visitor = web.visitor(&headers, "/workflows")?;
    let catalog = web.shelf.get();
    let page = ListPage {
        chrome: visitor.chrome("Workflows", "/workflows"),
        workflows: catalog
            .workflows
            .iter()
            .map(|w| {
                (
                    format!("/workflows/{}", w.name),
                    w.title.clone(),
                    w.applies_to.clone(),
                    w.starts.clone(),
                )
            })
            .collect(),
    };
    Ok(render(&page))
}

pub(super) async fn page(
    State(web): State<Web>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    let visitor = web.visitor(&headers, "/workflows")?;
    let catalog: Arc<_> = web.shelf.get();
    let Some(workflow) = catalog.workflow(&name) else {
        return Err(PageError::not_found());
    };
    let terms = workflow
        .terms
        .iter()
        .filter(|t| visitor.token.gemeenten.contains(&t.code))
        .cloned()
        .collect();
    let page = WorkflowPage {
        chrome: visitor.chrome(workflow.title.clone(), "/workflows"),
        workflow: workflow.clone(),
        terms,
    };
    Ok(render(&page))
}
