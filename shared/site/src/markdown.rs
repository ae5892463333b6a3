//! User Markdown, rendered once and sanitised: the only HTML from users that reaches a
//! page goes through here.

use pulldown_cmark::{Event, Options, Parser, Tag, html};

fn options() -> Options {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_TABLES);
    options
}

/// Renders Markdown to HTML that is safe to embed: no scripts, no event handlers, no
/// `javascript:` links, and links that cannot act on the page (`rel="noopener noreferrer"`).
///
/// Text without raw HTML, links or images comes out of pulldown-cmark fully escaped, so
/// it skips the (comparatively slow) HTML sanitiser; anything that could carry markup or
/// a URL goes through ammonia.
pub fn render(markdown: &str) -> String {
    let events: Vec<Event<'_>> = Parser::new_ext(markdown, options()).collect();
    let needs_sanitising = events.iter().any(|e| {
        matches!(
            e,
            Event::Html(_) | Event::InlineHtml(_) | Event::Start(Tag::Link { .. }) | Event::Start(Tag::Image { .. })
        )
    });
    let mut rendered = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut rendered, events.into_iter());
    if !needs_sanitising {
        return rendered;
    }
    ammonia::Builder::default()
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(&rendered)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_escaped_without_the_sanitiser() {
        assert_eq!(render("a < b & c > d"), "<p>a &lt; b &amp; c &gt; d</p>\n");
        assert_eq!(render("`<script>`"), "<p><code>&lt;script&gt;</code></p>\n");
    }

    #[test]
    fn markdown_becomes_html() {
        assert_eq!(render("We **fixed** it."), "<p>We <strong>fixed</strong> it.</p>\n");
    }

    #[test]
    fn scripts_and_handlers_and_javascript_links_are_removed() {
        let html = render(
            "<script>alert(1)</script><img src=x onerror=alert(2)>\n\nA [link](javascript:alert(3)) and <a href=\"https://ok.example\">ok</a>",
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("onerror"), "{html}");
        // The Markdown link is parsed as a link, and its javascript: target dropped.
        assert!(html.contains(">link</a>"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(html.contains("href=\"https://ok.example\""), "{html}");
        assert!(html.contains("rel=\"noopener noreferrer nofollow\""), "{html}");
    }
}
