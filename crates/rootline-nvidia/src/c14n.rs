//! Canonical XML 1.1 without comments (W3C Recommendation, 2 May 2008,
//! <http://www.w3.org/2006/12/xml-c14n11>), for the two node sets an
//! enveloped XMLDSig signature over `URI=""` needs and nothing more: a
//! whole document minus one element's subtree (the `Signature`), and one
//! element's subtree in its document (the `SignedInfo`). Both are inputs to
//! SHA-384 in [`crate::xmldsig`], so every byte here decides whether an
//! NVIDIA RIM verifies; the W3C examples are unit tests below.
//!
//! What the Recommendation asks, as done here (sections of C14N 1.0, which
//! 1.1 keeps for these node sets):
//!
//! - UTF-8 output, no XML declaration, no DTD; line endings and attribute
//!   values come normalised from the parser (roxmltree, XML 1.0 §2.11 and
//!   §3.3.3), character and predefined entity references are replaced, CDATA
//!   sections are read as text (§1.1 and §2);
//! - comments are dropped (the "without comments" variant); processing
//!   instructions are kept, those outside the document element followed
//!   (before it) or preceded (after it) by one `#xA` (§2.3); text outside the
//!   document element is dropped;
//! - empty elements become start-end tag pairs; element and attribute names
//!   keep the prefixes written in the input (read from the input text:
//!   roxmltree keeps expanded names only);
//! - an element's namespace declarations are those of its in-scope
//!   namespaces (the `xml` one never) that its nearest output ancestor does
//!   not have with the same value, plus `xmlns=""` when it has no default
//!   namespace and that ancestor has a non-empty one; the apex of a subtree
//!   has no output ancestor, so it declares every namespace in scope (§2.3,
//!   §4.7 of C14N 1.0: "superfluous namespace declarations");
//! - namespace declarations first, sorted by prefix (the default one
//!   first), then attributes sorted by namespace URI (none first) and local
//!   name, comparing code points (UTF-8 byte order is code point order);
//! - text escapes `&`, `<`, `>` and `#xD`; attribute values escape `&`,
//!   `<`, `"`, `#x9`, `#xA` and `#xD` (§2.3);
//! - a subtree apex inherits `xml:lang` and `xml:space` from omitted
//!   ancestors, not `xml:id` (C14N 1.1 §2.4); an `xml:base` on an omitted
//!   ancestor needs the 1.1 URI fix-up, which NVIDIA RIMs never need, so it
//!   is refused rather than approximated.
//!
//! The walk is iterative (no recursion on input depth).

use roxmltree::{Document, Node, NodeId, NodeType, ParsingOptions};

use crate::error::{Error, Result};

/// The XML namespace (`xml:` prefix), never declared in canonical output.
const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";

/// The largest document [`canonicalize`] reads.
pub const MAX_XML_LEN: usize = 1 << 20;
/// The most XML nodes [`canonicalize`] (and a RIM) may hold.
pub const MAX_XML_NODES: u32 = 20_000;
/// The most namespaces in scope at one element (NVIDIA's RIMs have five).
/// Each element's declarations are worked out from its and its parent's
/// in-scope namespaces; without a bound, a megabyte of declarations on the
/// root times [`MAX_XML_NODES`] elements would be quadratic work.
pub const MAX_NAMESPACES_IN_SCOPE: usize = 64;

/// Parses XML as the RIM reader does: UTF-8, at most [`MAX_XML_LEN`] bytes
/// and [`MAX_XML_NODES`] nodes, DTDs refused (so no entity expansion).
pub(crate) fn parse(xml: &[u8]) -> Result<Document<'_>> {
    if xml.len() > MAX_XML_LEN {
        return Err(Error::TooLarge {
            what: "XML document",
            len: xml.len(),
            max: MAX_XML_LEN,
        });
    }
    let text = std::str::from_utf8(xml).map_err(|e| c14n_err(e.to_string()))?;
    let opts = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_XML_NODES,
        ..Default::default()
    };
    Document::parse_with_options(text, opts).map_err(|e| c14n_err(e.to_string()))
}

/// The canonical form (C14N 1.1, without comments) of a whole document:
/// for tests, fuzzing and for explaining a digest mismatch.
pub fn canonicalize(xml: &[u8]) -> Result<Vec<u8>> {
    let doc = parse(xml)?;
    document(&doc, None)
}

/// The canonical form of `doc` without the subtree of `exclude` (the
/// enveloped-signature transform removes the `Signature` element this way).
pub(crate) fn document(doc: &Document<'_>, exclude: Option<NodeId>) -> Result<Vec<u8>> {
    let text = doc.input_text();
    let mut out = Vec::with_capacity(text.len());
    let mut after_root = false;
    for node in doc.root().children() {
        match node.node_type() {
            NodeType::Element => {
                walk(&mut out, text, node, exclude, false)?;
                after_root = true;
            }
            NodeType::PI => {
                if after_root {
                    out.push(b'\n');
                }
                pi(&mut out, node);
                if !after_root {
                    out.push(b'\n');
                }
            }
            // Comments are not in the node set; text outside the document
            // element is not part of the XPath data model.
            NodeType::Comment | NodeType::Text | NodeType::Root => {}
        }
    }
    Ok(out)
}

/// The canonical form of the subtree of `apex` as a document subset: the
/// apex declares every namespace in scope and inherits `xml:lang` and
/// `xml:space`.
pub(crate) fn subtree(doc: &Document<'_>, apex: Node<'_, '_>) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    walk(&mut out, doc.input_text(), apex, None, true)?;
    Ok(out)
}

enum Step<'a, 'input> {
    Open(Node<'a, 'input>),
    Close(Node<'a, 'input>),
}

fn walk(
    out: &mut Vec<u8>,
    text: &str,
    apex: Node<'_, '_>,
    exclude: Option<NodeId>,
    subset: bool,
) -> Result<()> {
    let mut stack = vec![Step::Open(apex)];
    while let Some(step) = stack.pop() {
        match step {
            Step::Close(n) => {
                out.extend_from_slice(b"</");
                out.extend_from_slice(element_qname(text, n)?.as_bytes());
                out.push(b'>');
            }
            Step::Open(n) => match n.node_type() {
                NodeType::Element => {
                    if Some(n.id()) == exclude {
                        continue;
                    }
                    let is_apex = n.id() == apex.id();
                    let parent = if is_apex { None } else { n.parent_element() };
                    start_tag(out, text, n, parent, subset && is_apex)?;
                    stack.push(Step::Close(n));
                    let children: Vec<Node<'_, '_>> = n.children().collect();
                    stack.extend(children.into_iter().rev().map(Step::Open));
                }
                NodeType::Text => {
                    if let Some(t) = n.text() {
                        escape_text(out, t);
                    }
                }
                NodeType::PI => pi(out, n),
                NodeType::Comment | NodeType::Root => {}
            },
        }
    }
    Ok(())
}

/// The namespaces in scope at `el` as (prefix, URI), sorted, the default
/// one with prefix `""`; an undeclared default (`xmlns=""`) is no namespace.
fn in_scope<'a>(el: Node<'a, '_>) -> Result<Vec<(&'a str, &'a str)>> {
    let n = el.namespaces().len();
    if n > MAX_NAMESPACES_IN_SCOPE {
        return Err(c14n_err(format!(
            "element {}: {n} namespaces in scope, more than the {MAX_NAMESPACES_IN_SCOPE} accepted",
            el.tag_name().name()
        )));
    }
    let mut v: Vec<(&str, &str)> = el
        .namespaces()
        .filter(|ns| ns.name().is_some() || !ns.uri().is_empty())
        .map(|ns| (ns.name().unwrap_or(""), ns.uri()))
        .collect();
    v.sort_unstable();
    Ok(v)
}

fn start_tag(
    out: &mut Vec<u8>,
    text: &str,
    el: Node<'_, '_>,
    parent: Option<Node<'_, '_>>,
    inherit_xml_attrs: bool,
) -> Result<()> {
    out.push(b'<');
    out.extend_from_slice(element_qname(text, el)?.as_bytes());

    // Namespace declarations, sorted by prefix ("" first).
    let mine = in_scope(el)?;
    let theirs = parent.map(in_scope).transpose()?.unwrap_or_default();
    let mut decls: Vec<(&str, &str)> = mine
        .iter()
        .filter(|ns| theirs.binary_search(ns).is_err())
        .copied()
        .collect();
    let has_default = |v: &[(&str, &str)]| v.iter().any(|(p, _)| p.is_empty());
    if !has_default(&mine) && has_default(&theirs) {
        decls.push(("", ""));
    }
    decls.sort_unstable();
    for (prefix, uri) in decls {
        if prefix.is_empty() {
            out.extend_from_slice(b" xmlns=\"");
        } else {
            out.extend_from_slice(b" xmlns:");
            out.extend_from_slice(prefix.as_bytes());
            out.extend_from_slice(b"=\"");
        }
        escape_attr(out, uri);
        out.push(b'"');
    }

    // Attributes, sorted by (namespace URI, local name).
    let mut attrs: Vec<(&str, &str, &str, &str)> = Vec::new();
    for a in el.attributes() {
        let local = a.name();
        let qname = text
            .get(a.range_qname())
            .filter(|q| *q == local || q.ends_with(&format!(":{local}")))
            .ok_or_else(|| c14n_err(format!("attribute {local}: name not found in the input")))?;
        attrs.push((a.namespace().unwrap_or(""), local, qname, a.value()));
    }
    if inherit_xml_attrs {
        inherited_xml_attrs(el, &mut attrs)?;
    }
    attrs.sort_unstable_by(|x, y| (x.0, x.1).cmp(&(y.0, y.1)));
    for (_, _, qname, value) in attrs {
        out.push(b' ');
        out.extend_from_slice(qname.as_bytes());
        out.extend_from_slice(b"=\"");
        escape_attr(out, value);
        out.push(b'"');
    }
    out.push(b'>');
    Ok(())
}

/// C14N 1.1 §2.4: the apex of a document subset takes `xml:lang` and
/// `xml:space` from its nearest omitted ancestor that has them, unless it
/// has its own; `xml:id` is not inherited; `xml:base` is refused (see the
/// module docs).
fn inherited_xml_attrs<'a>(
    apex: Node<'a, '_>,
    attrs: &mut Vec<(&'a str, &'a str, &'a str, &'a str)>,
) -> Result<()> {
    let own = |name: &str| apex.attribute((NS_XML, name)).is_some();
    let (mut lang, mut space) = (own("lang"), own("space"));
    for anc in apex.ancestors().skip(1).filter(Node::is_element) {
        for a in anc.attributes().filter(|a| a.namespace() == Some(NS_XML)) {
            match a.name() {
                "lang" if !lang => {
                    lang = true;
                    attrs.push((NS_XML, "lang", "xml:lang", a.value()));
                }
                "space" if !space => {
                    space = true;
                    attrs.push((NS_XML, "space", "xml:space", a.value()));
                }
                "base" => {
                    return Err(Error::Unsupported {
                        field: "canonical XML",
                        value: "xml:base on an ancestor of a document subset (C14N 1.1 \
                                fix-up is not implemented)"
                            .into(),
                    });
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// The element's name as written: the input text after its `<`.
fn element_qname<'t>(text: &'t str, el: Node<'_, '_>) -> Result<&'t str> {
    let local = el.tag_name().name();
    text.get(el.range().start..)
        .and_then(|s| s.strip_prefix('<'))
        .and_then(|s| {
            let end = s.find([' ', '\t', '\r', '\n', '/', '>']).unwrap_or(s.len());
            s.get(..end)
        })
        .filter(|q| *q == local || q.ends_with(&format!(":{local}")))
        .ok_or_else(|| c14n_err(format!("element {local}: name not found in the input")))
}

fn pi(out: &mut Vec<u8>, node: Node<'_, '_>) {
    if let Some(p) = node.pi() {
        out.extend_from_slice(b"<?");
        out.extend_from_slice(p.target.as_bytes());
        if let Some(v) = p.value.filter(|v| !v.is_empty()) {
            out.push(b' ');
            out.extend_from_slice(v.as_bytes());
        }
        out.extend_from_slice(b"?>");
    }
}

fn escape_text(out: &mut Vec<u8>, s: &str) {
    for b in s.bytes() {
        match b {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'\r' => out.extend_from_slice(b"&#xD;"),
            _ => out.push(b),
        }
    }
}

fn escape_attr(out: &mut Vec<u8>, s: &str) {
    for b in s.bytes() {
        match b {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            b'\t' => out.extend_from_slice(b"&#x9;"),
            b'\n' => out.extend_from_slice(b"&#xA;"),
            b'\r' => out.extend_from_slice(b"&#xD;"),
            _ => out.push(b),
        }
    }
}

fn c14n_err(reason: impl Into<String>) -> Error {
    Error::Rim {
        field: "XML".into(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c14n(xml: &str) -> String {
        String::from_utf8(canonicalize(xml.as_bytes()).unwrap()).unwrap()
    }

    /// C14N 1.0 and 1.1 §3.1, without comments; the DOCTYPE (refused here)
    /// removed from the input.
    #[test]
    fn w3c_3_1_pis_and_comments_outside_the_document_element() {
        let input = "<?xml version=\"1.0\"?>\n\n<?xml-stylesheet   href=\"doc.xsl\"\n   type=\"text/xsl\"   ?>\n\n<doc>Hello, world!<!-- Comment 1 --></doc>\n\n<?pi-without-data     ?>\n\n<!-- Comment 2 -->\n\n<!-- Comment 3 -->\n";
        assert_eq!(
            c14n(input),
            "<?xml-stylesheet href=\"doc.xsl\"\n   type=\"text/xsl\"   ?>\n<doc>Hello, world!</doc>\n<?pi-without-data?>"
        );
    }

    /// §3.3, nested namespaces and attributes: superfluous declarations
    /// dropped, `xmlns=""` only where a default is undone, attributes sorted
    /// by namespace URI then local name. The spec's DTD default attribute
    /// (`e9/@attr`) is written out, as roxmltree refuses DTDs.
    #[test]
    fn w3c_3_3_start_and_end_tags() {
        let input = r#"<doc>
   <e1   />
   <e2   ></e2>
   <e3   name = "elem3"   id="elem3"   />
   <e4   name="elem4"   id="elem4"   ></e4>
   <e5 a:attr="out" b:attr="sorted" attr2="all" attr="I'm"
      xmlns:b="http://www.ietf.org"
      xmlns:a="http://www.w3.org"
      xmlns="http://example.org"/>
   <e6 xmlns="" xmlns:a="http://www.w3.org">
      <e7 xmlns="http://www.ietf.org">
         <e8 xmlns="" xmlns:a="http://www.w3.org">
            <e9 xmlns="" xmlns:a="http://www.ietf.org" attr="default"/>
         </e8>
      </e7>
   </e6>
</doc>"#;
        let expected = r#"<doc>
   <e1></e1>
   <e2></e2>
   <e3 id="elem3" name="elem3"></e3>
   <e4 id="elem4" name="elem4"></e4>
   <e5 xmlns="http://example.org" xmlns:a="http://www.w3.org" xmlns:b="http://www.ietf.org" attr="I'm" attr2="all" b:attr="sorted" a:attr="out"></e5>
   <e6 xmlns:a="http://www.w3.org">
      <e7 xmlns="http://www.ietf.org">
         <e8 xmlns="">
            <e9 xmlns:a="http://www.ietf.org" attr="default"></e9>
         </e8>
      </e7>
   </e6>
</doc>"#;
        assert_eq!(c14n(input), expected);
    }

    /// §3.4, character modifications and references, without the DTD (so
    /// every attribute is CDATA: `normNames` and `normId` keep their spaces).
    #[test]
    fn w3c_3_4_character_modifications() {
        let input = "<doc>\n   <text>First line&#x0d;&#10;Second line</text>\n   <value>&#x32;</value>\n   <compute><![CDATA[value>\"0\" && value<\"10\" ?\"valid\":\"error\"]]></compute>\n   <compute expr='value>\"0\" &amp;&amp; value&lt;\"10\" ?\"valid\":\"error\"'>valid</compute>\n   <norm attr=' &apos;   &#x20;&#13;&#xa;&#9;   &apos; '/>\n   <normNames attr='   A   &#x20;&#13;&#xa;&#9;   B   '/>\n</doc>";
        let expected = "<doc>\n   <text>First line&#xD;\nSecond line</text>\n   <value>2</value>\n   <compute>value&gt;\"0\" &amp;&amp; value&lt;\"10\" ?\"valid\":\"error\"</compute>\n   <compute expr=\"value>&quot;0&quot; &amp;&amp; value&lt;&quot;10&quot; ?&quot;valid&quot;:&quot;error&quot;\">valid</compute>\n   <norm attr=\" '    &#xD;&#xA;&#x9;   ' \"></norm>\n   <normNames attr=\"   A    &#xD;&#xA;&#x9;   B   \"></normNames>\n</doc>";
        assert_eq!(c14n(input), expected);
    }

    /// A subtree apex declares every namespace in scope (one URI under two
    /// prefixes, as in NVIDIA's RIMs), inherits xml:lang but not xml:id,
    /// and its descendants declare nothing twice; the excluded subtree of a
    /// document leaves its surroundings as they were, line breaks included.
    #[test]
    fn subset_apex_takes_namespaces_and_xml_lang_from_ancestors() {
        let xml = "<r xmlns=\"urn:a\" xmlns:p=\"urn:a\" xml:lang=\"en\" xml:id=\"r\">\n<p:s xmlns:q=\"urn:q\"><q:i b=\"1\" a=\"2\"><p:j/></q:i><!-- c --></p:s>\n<t>x</t></r>";
        let doc = parse(xml.as_bytes()).unwrap();
        let s = doc.descendants().find(|n| n.has_tag_name("s")).unwrap();
        let sub = String::from_utf8(subtree(&doc, s).unwrap()).unwrap();
        assert_eq!(
            sub,
            "<p:s xmlns=\"urn:a\" xmlns:p=\"urn:a\" xmlns:q=\"urn:q\" xml:lang=\"en\"><q:i a=\"2\" b=\"1\"><p:j></p:j></q:i></p:s>"
        );
        let without = String::from_utf8(document(&doc, Some(s.id())).unwrap()).unwrap();
        assert_eq!(
            without,
            "<r xmlns=\"urn:a\" xmlns:p=\"urn:a\" xml:id=\"r\" xml:lang=\"en\">\n\n<t>x</t></r>"
        );
    }

    #[test]
    fn xml_base_above_a_subset_is_refused_and_dtds_are_refused() {
        let doc = parse(b"<r xml:base=\"http://x/\"><s/></r>").unwrap();
        let s = doc.descendants().find(|n| n.has_tag_name("s")).unwrap();
        assert!(matches!(
            subtree(&doc, s),
            Err(Error::Unsupported {
                field: "canonical XML",
                ..
            })
        ));
        assert!(canonicalize(b"<!DOCTYPE r [<!ENTITY e \"x\">]><r>&e;</r>").is_err());
    }

    #[test]
    fn namespaces_in_scope_are_bounded() {
        let decls: String = (0..=MAX_NAMESPACES_IN_SCOPE)
            .map(|i| format!(" xmlns:p{i}=\"urn:{i}\""))
            .collect();
        let ok = format!("<r{}><c/></r>", &decls[..decls.rfind(" xmlns").unwrap()]);
        assert!(canonicalize(ok.as_bytes()).is_ok());
        let e = canonicalize(format!("<r{decls}><c/></r>").as_bytes()).unwrap_err();
        assert!(e.to_string().contains("namespaces in scope"), "{e}");
    }

    #[test]
    fn deep_nesting_does_not_recurse() {
        let depth = 5_000;
        let xml = "<a>".repeat(depth) + &"</a>".repeat(depth);
        let out = canonicalize(xml.as_bytes()).unwrap();
        assert_eq!(out, xml.as_bytes());
    }
}
