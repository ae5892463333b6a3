//! User Markdown, rendered once and sanitised: the only HTML from users that reaches a
//! page goes through here.

use pulldown_cmark::{Options, Parser, html};

/// Renders Markdown to HTML that is safe to embed: no scripts, no event handlers, no
/// `javascript:` links, and links that cannot act on the page (`rel="noopener noreferrer"`).
pub fn render(markdown: &str) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_TABLES);
    let mut unsafe_html = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut unsafe_html, Parser::new_ext(markdown, options));
    ammonia::Builder::default()
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(&unsafe_html)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

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
