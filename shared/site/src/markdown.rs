//! User Markdown, rendered once and safe by construction: the only HTML from users that
//! reaches a page comes out of here.
//!
//! Rather than render HTML and clean it afterwards, the renderer never lets markup from
//! users through: raw HTML in the Markdown is shown as the text it is, links keep only
//! `http`, `https`, `mailto` and relative targets (and cannot act on the page), and
//! images become links to them, since the page makes no requests to other hosts. That
//! leaves nothing for an HTML sanitiser to do, and keeps one out of every function's
//! binary.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd, html};

fn options() -> Options {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_TABLES);
    options
}

/// Whether a link target is one a page may carry: a relative URL, or one of the schemes
/// that cannot run anything. Browsers ignore ASCII tabs and newlines inside a scheme
/// (`java\tscript:`), so any control character or space makes a target unsafe.
fn is_safe_target(url: &str) -> bool {
    if url.chars().any(|c| c.is_ascii_control() || c == ' ') {
        return false;
    }
    let scheme_end = url.find(':');
    let path_start = url.find(['/', '?', '#']);
    match scheme_end {
        // No scheme: a relative URL (a colon later on, in a path or query, is fine).
        None => true,
        Some(colon) if path_start.is_some_and(|p| p < colon) => true,
        Some(colon) => matches!(url[..colon].to_ascii_lowercase().as_str(), "http" | "https" | "mailto"),
    }
}

/// The opening tag of a link to `url`: with its target only when that is safe, and never
/// able to reach back into the page (`rel="noopener noreferrer nofollow"`).
fn open_link(url: &str) -> CowStr<'static> {
    let mut tag = String::from("<a");
    if is_safe_target(url) {
        tag.push_str(" href=\"");
        // Writing into a String cannot fail.
        let _ = pulldown_cmark_escape::escape_href(&mut tag, url);
        tag.push('"');
    }
    tag.push_str(" rel=\"noopener noreferrer nofollow\">");
    CowStr::from(tag)
}

/// Renders Markdown to HTML that is safe to embed: no tag or attribute from the text
/// itself, no `javascript:` (or any other active) link, no image from another host.
pub fn render(markdown: &str) -> String {
    let events = Parser::new_ext(markdown, options()).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
            Event::InlineHtml(open_link(&dest_url))
        }
        Event::End(TagEnd::Link | TagEnd::Image) => Event::InlineHtml(CowStr::Borrowed("</a>")),
        other => other,
    });
    let mut rendered = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut rendered, events);
    rendered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(render("a < b & c > d"), "<p>a &lt; b &amp; c &gt; d</p>\n");
        assert_eq!(render("`<script>`"), "<p><code>&lt;script&gt;</code></p>\n");
    }

    #[test]
    fn markdown_becomes_html() {
        assert_eq!(render("We **fixed** it."), "<p>We <strong>fixed</strong> it.</p>\n");
        assert_eq!(
            render("See [the notes](https://acme.example/notes?a=1&b=2)."),
            "<p>See <a href=\"https://acme.example/notes?a=1&amp;b=2\" rel=\"noopener noreferrer nofollow\">the notes</a>.</p>\n"
        );
    }

    #[test]
    fn raw_html_shows_as_text_and_active_links_lose_their_target() {
        let html = render(
            "<script>alert(1)</script><img src=x onerror=alert(2)>\n\nA [link](javascript:alert(3)), [another](JaVaScRiPt:alert(4)) and <a href=\"https://ok.example\">raw</a>",
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "shown as text: {html}");
        assert!(html.contains("&lt;a href=\"https://ok.example\"&gt;raw&lt;/a&gt;"), "{html}");
        assert!(!html.to_ascii_lowercase().contains("href=\"javascript"), "{html}");
        assert!(!html.contains("href=\"java"), "{html}");
        assert_eq!(html.matches("<a rel=\"noopener noreferrer nofollow\">").count(), 2, "{html}");
    }

    #[test]
    fn images_become_links_and_only_quiet_schemes_keep_a_target() {
        assert_eq!(
            render("![diagram](https://img.example/d.png)"),
            "<p><a href=\"https://img.example/d.png\" rel=\"noopener noreferrer nofollow\">diagram</a></p>\n"
        );
        for safe in [
            "https://a.example",
            "http://a.example",
            "mailto:ops@a.example",
            "/incidents/1.html",
            "#top",
            "notes?x=a:b",
        ] {
            assert!(is_safe_target(safe), "{safe}");
        }
        for unsafe_target in
            ["javascript:alert(1)", "data:text/html,x", "vbscript:x", "java\nscript:x", " javascript:x"]
        {
            assert!(!is_safe_target(unsafe_target), "{unsafe_target}");
        }
    }
}
