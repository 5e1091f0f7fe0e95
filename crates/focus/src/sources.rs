//! The sources of a conference (jitsi-protocol.md §3.2–3.5): each
//! endpoint's SSRCs and SSRC groups, validated as jicofo's
//! `ValidatingConferenceSourceMap` does, and written out in the three
//! forms the focus needs — Colibri2 `<media-source>`s for the bridge, XML
//! `<source>`/`<ssrc-group>` in Jingle contents, and the JSON of
//! `<json-message>` for clients that announce `json-encoded-sources`.

use std::collections::{BTreeMap, BTreeSet};

use jitsi_xmpp::{MediaSource, MediaType, Semantics, Source, Sources, SsrcGroup};
use minidom::Element;
use serde_json::{Value, json};

/// jicofo's defaults (`jicofo.conference.max-ssrcs-per-user`, `max-ssrc-groups-per-user`).
pub const MAX_SSRCS_PER_ENDPOINT: usize = 20;
pub const MAX_GROUPS_PER_ENDPOINT: usize = 20;

/// The owner name of the bridge's own (feedback) sources.
pub const JVB_OWNER: &str = "jvb";

/// One endpoint's sources, by media.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointSources {
    pub audio: Vec<Source>,
    pub video: Vec<Source>,
    pub audio_groups: Vec<SsrcGroup>,
    pub video_groups: Vec<SsrcGroup>,
}

/// Why a set of sources was refused (the text goes into the `bad-request`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError(pub String);

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl EndpointSources {
    pub fn is_empty(&self) -> bool {
        self.audio.is_empty() && self.video.is_empty()
    }

    pub fn ssrcs(&self) -> impl Iterator<Item = u32> + '_ {
        self.audio.iter().chain(self.video.iter()).map(|s| s.ssrc)
    }

    fn list(&mut self, kind: MediaType) -> (&mut Vec<Source>, &mut Vec<SsrcGroup>) {
        match kind {
            MediaType::Audio => (&mut self.audio, &mut self.audio_groups),
            MediaType::Video => (&mut self.video, &mut self.video_groups),
        }
    }

    /// Sources and groups of Jingle `<content>`s (the `<description>`'s
    /// `<source>` and `<ssrc-group>` children). Contents other than audio
    /// and video are skipped; `ssrc-info` owners are dropped (the focus
    /// sets them itself).
    pub fn from_contents<'a>(
        contents: impl Iterator<Item = &'a Element>,
    ) -> Result<Self, SourceError> {
        let mut out = EndpointSources::default();
        for content in contents {
            let Some(desc) = content.get_child("description", jitsi_xmpp::ns::JINGLE_RTP) else {
                continue;
            };
            let kind = match desc.attr("media").or(content.attr("name")) {
                Some("audio") => MediaType::Audio,
                Some("video") => MediaType::Video,
                _ => continue,
            };
            for child in desc.children() {
                if child.is("source", jitsi_xmpp::ns::JINGLE_SSMA) {
                    let mut s = Source::try_from(child)
                        .map_err(|e| SourceError(format!("invalid source: {e}")))?;
                    s.owner = None;
                    out.list(kind).0.push(s);
                } else if child.is("ssrc-group", jitsi_xmpp::ns::JINGLE_SSMA) {
                    let g = SsrcGroup::try_from(child)
                        .map_err(|e| SourceError(format!("invalid ssrc-group: {e}")))?;
                    out.list(kind).1.push(g);
                }
            }
        }
        Ok(out)
    }

    /// Adds `other` (source-add); an SSRC already present is an error.
    pub fn add(&mut self, other: &EndpointSources) -> Result<(), SourceError> {
        let mine: BTreeSet<u32> = self.ssrcs().collect();
        if let Some(dup) = other.ssrcs().find(|s| mine.contains(s)) {
            return Err(SourceError(format!("SSRC {dup} is already signalled")));
        }
        self.audio.extend(other.audio.iter().cloned());
        self.video.extend(other.video.iter().cloned());
        self.audio_groups.extend(other.audio_groups.iter().cloned());
        self.video_groups.extend(other.video_groups.iter().cloned());
        Ok(())
    }

    /// Removes `other`'s SSRCs and groups (source-remove) and returns what
    /// was actually removed; unknown SSRCs are ignored, as jicofo does.
    pub fn remove(&mut self, other: &EndpointSources) -> EndpointSources {
        let gone: BTreeSet<u32> = other.ssrcs().collect();
        let mut removed = EndpointSources::default();
        for kind in [MediaType::Audio, MediaType::Video] {
            let (list, groups) = self.list(kind);
            let (out, keep): (Vec<Source>, Vec<Source>) =
                list.drain(..).partition(|s| gone.contains(&s.ssrc));
            *list = keep;
            let (gout, gkeep): (Vec<SsrcGroup>, Vec<SsrcGroup>) = groups
                .drain(..)
                .partition(|g| g.ssrcs.iter().any(|s| gone.contains(s)));
            *groups = gkeep;
            let (rl, rg) = removed.list(kind);
            rl.extend(out);
            rg.extend(gout);
        }
        removed
    }

    /// jicofo's checks for one endpoint: limits, duplicate SSRCs, groups
    /// naming only the endpoint's own SSRCs of the same media.
    pub fn validate(&self) -> Result<(), SourceError> {
        let count = self.audio.len() + self.video.len();
        if count > MAX_SSRCS_PER_ENDPOINT {
            return Err(SourceError(format!(
                "too many SSRCs: {count} (at most {MAX_SSRCS_PER_ENDPOINT})"
            )));
        }
        let groups = self.audio_groups.len() + self.video_groups.len();
        if groups > MAX_GROUPS_PER_ENDPOINT {
            return Err(SourceError(format!(
                "too many SSRC groups: {groups} (at most {MAX_GROUPS_PER_ENDPOINT})"
            )));
        }
        let mut seen = BTreeSet::new();
        for s in self.audio.iter().chain(self.video.iter()) {
            if s.ssrc == 0 {
                return Err(SourceError("SSRC 0 is not valid".into()));
            }
            if !seen.insert(s.ssrc) {
                return Err(SourceError(format!("SSRC {} appears twice", s.ssrc)));
            }
        }
        for (sources, groups, media) in [
            (&self.audio, &self.audio_groups, "audio"),
            (&self.video, &self.video_groups, "video"),
        ] {
            let own: BTreeSet<u32> = sources.iter().map(|s| s.ssrc).collect();
            for g in groups {
                if g.ssrcs.is_empty() {
                    return Err(SourceError(format!("empty {} group", g.semantics.as_str())));
                }
                if let Some(x) = g.ssrcs.iter().find(|s| !own.contains(s)) {
                    return Err(SourceError(format!(
                        "{} group names SSRC {x}, which is not one of the endpoint's {media} sources",
                        g.semantics.as_str(),
                    )));
                }
                if g.semantics == Semantics::Fid && g.ssrcs.len() != 2 {
                    return Err(SourceError("an FID group needs exactly two SSRCs".into()));
                }
            }
        }
        Ok(())
    }

    /// The Colibri2 `<sources>` of this endpoint: one `<media-source>` per
    /// source name. Unnamed sources are named `<endpoint>-a<i>` /
    /// `<endpoint>-v<i>`, video SSRCs tied by SIM/FID groups sharing one.
    pub fn to_colibri(&self, endpoint: &str) -> Sources {
        let mut media_sources = Vec::new();
        for (kind, sources, groups, letter) in [
            (MediaType::Audio, &self.audio, &self.audio_groups, 'a'),
            (MediaType::Video, &self.video, &self.video_groups, 'v'),
        ] {
            let names = source_names(endpoint, letter, sources, groups);
            let mut by_name: BTreeMap<&str, MediaSource> = BTreeMap::new();
            let mut order: Vec<&str> = Vec::new();
            for (s, name) in sources.iter().zip(names.iter()) {
                let ms = by_name.entry(name.as_str()).or_insert_with(|| {
                    order.push(name.as_str());
                    MediaSource::new(kind, name)
                });
                let mut s = s.clone();
                s.owner = None;
                s.name = Some(name.clone());
                ms.sources.push(s);
            }
            for g in groups {
                let Some(first) = g.ssrcs.first() else {
                    continue;
                };
                let idx = sources.iter().position(|s| s.ssrc == *first);
                if let Some(ms) = idx.and_then(|i| by_name.get_mut(names[i].as_str())) {
                    ms.ssrc_groups.push(g.clone());
                }
            }
            for name in order {
                if let Some(ms) = by_name.remove(name) {
                    media_sources.push(ms);
                }
            }
        }
        Sources { media_sources }
    }

    /// The JSON of jicofo's json-encoded sources for one owner:
    /// `[videoSources, videoGroups, audioSources, audioGroups]`.
    pub fn to_json(&self) -> Value {
        let src = |s: &Source| {
            let mut o = serde_json::Map::new();
            o.insert("s".into(), json!(s.ssrc));
            if let Some(n) = &s.name {
                o.insert("n".into(), json!(n));
            }
            if let Some(m) = &s.msid {
                o.insert("m".into(), json!(m));
            }
            if let Some(v) = &s.video_type {
                o.insert("v".into(), json!(v));
            }
            Value::Object(o)
        };
        let grp = |g: &SsrcGroup| {
            let code = match &g.semantics {
                Semantics::Fid => "f".to_string(),
                Semantics::Sim => "s".to_string(),
                Semantics::Other(o) => o.clone(),
            };
            let mut a = vec![json!(code)];
            a.extend(g.ssrcs.iter().map(|s| json!(s)));
            Value::Array(a)
        };
        json!([
            self.video.iter().map(src).collect::<Vec<_>>(),
            self.video_groups.iter().map(grp).collect::<Vec<_>>(),
            self.audio.iter().map(src).collect::<Vec<_>>(),
            self.audio_groups.iter().map(grp).collect::<Vec<_>>(),
        ])
    }

    /// The `<source>`s and `<ssrc-group>`s for one media, with
    /// `ssrc-info owner` set, for an XML-encoded Jingle description.
    pub fn xml_children(&self, kind: MediaType, owner: &str) -> Vec<Element> {
        let (sources, groups) = match kind {
            MediaType::Audio => (&self.audio, &self.audio_groups),
            MediaType::Video => (&self.video, &self.video_groups),
        };
        let mut out: Vec<Element> = sources
            .iter()
            .map(|s| {
                let mut s = s.clone();
                s.owner = Some(owner.to_string());
                Element::from(&s)
            })
            .collect();
        out.extend(groups.iter().map(Element::from));
        out
    }

    /// The bridge's feedback sources from a Colibri2 `<sources>`.
    pub fn from_colibri(sources: &Sources) -> Self {
        let mut out = EndpointSources::default();
        for ms in &sources.media_sources {
            let (list, groups) = out.list(ms.kind);
            for s in &ms.sources {
                let mut s = s.clone();
                if s.name.is_none() {
                    s.name = Some(ms.id.clone());
                }
                list.push(s);
            }
            groups.extend(ms.ssrc_groups.iter().cloned());
        }
        out
    }
}

/// The source name of each SSRC: the signalled one, else one shared by the
/// SSRCs tied together by groups, numbered in order of appearance.
fn source_names(
    endpoint: &str,
    letter: char,
    sources: &[Source],
    groups: &[SsrcGroup],
) -> Vec<String> {
    // Union-find over indexes, so SIM and FID members share a name.
    let mut parent: Vec<usize> = (0..sources.len()).collect();
    fn root(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    let index = |ssrc: u32| sources.iter().position(|s| s.ssrc == ssrc);
    for g in groups {
        let members: Vec<usize> = g.ssrcs.iter().filter_map(|s| index(*s)).collect();
        for w in members.windows(2) {
            let (a, b) = (root(&mut parent, w[0]), root(&mut parent, w[1]));
            if a != b {
                parent[b] = a;
            }
        }
    }
    let mut group_name: BTreeMap<usize, String> = BTreeMap::new();
    // A signalled name anywhere in a group names the whole group.
    for (i, s) in sources.iter().enumerate() {
        if let Some(n) = &s.name {
            let r = root(&mut parent, i);
            group_name.entry(r).or_insert_with(|| n.clone());
        }
    }
    let taken: BTreeSet<String> = group_name.values().cloned().collect();
    let mut next = 0usize;
    let mut out = Vec::with_capacity(sources.len());
    for i in 0..sources.len() {
        let r = root(&mut parent, i);
        let name = group_name
            .entry(r)
            .or_insert_with(|| {
                loop {
                    let candidate = format!("{endpoint}-{letter}{next}");
                    next += 1;
                    if !taken.contains(&candidate) {
                        break candidate;
                    }
                }
            })
            .clone();
        out.push(name);
    }
    out
}

/// Every endpoint's sources in one conference.
#[derive(Debug, Clone, Default)]
pub struct ConferenceSources {
    by_endpoint: BTreeMap<String, EndpointSources>,
}

impl ConferenceSources {
    pub fn get(&self, endpoint: &str) -> Option<&EndpointSources> {
        self.by_endpoint.get(endpoint)
    }

    pub fn endpoints(&self) -> impl Iterator<Item = (&String, &EndpointSources)> {
        self.by_endpoint.iter()
    }

    /// Checks `candidate` as the complete set of `endpoint` against the
    /// endpoint limits and every other endpoint's SSRCs.
    pub fn check(&self, endpoint: &str, candidate: &EndpointSources) -> Result<(), SourceError> {
        candidate.validate()?;
        for (other, set) in &self.by_endpoint {
            if other == endpoint {
                continue;
            }
            let theirs: BTreeSet<u32> = set.ssrcs().collect();
            if let Some(x) = candidate.ssrcs().find(|s| theirs.contains(s)) {
                return Err(SourceError(format!(
                    "SSRC {x} is already used by another endpoint"
                )));
            }
        }
        Ok(())
    }

    /// source-add: validated, then stored; returns the added sources.
    pub fn add(
        &mut self,
        endpoint: &str,
        added: &EndpointSources,
    ) -> Result<EndpointSources, SourceError> {
        let mut next = self.by_endpoint.get(endpoint).cloned().unwrap_or_default();
        next.add(added)?;
        self.check(endpoint, &next)?;
        self.by_endpoint.insert(endpoint.to_string(), next);
        Ok(added.clone())
    }

    /// source-remove: returns what was removed.
    pub fn remove(&mut self, endpoint: &str, removed: &EndpointSources) -> EndpointSources {
        match self.by_endpoint.get_mut(endpoint) {
            Some(set) => set.remove(removed),
            None => EndpointSources::default(),
        }
    }

    /// The endpoint left: all its sources, gone.
    pub fn remove_endpoint(&mut self, endpoint: &str) -> EndpointSources {
        self.by_endpoint.remove(endpoint).unwrap_or_default()
    }
}

/// `{"sources": {owner: [...]}}`, the `<json-message>` text.
pub fn json_message(owners: &[(&str, &EndpointSources)]) -> String {
    let mut map = serde_json::Map::new();
    for (owner, set) in owners {
        map.insert((*owner).to_string(), set.to_json());
    }
    json!({ "sources": Value::Object(map) }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(xml: &str) -> Vec<Element> {
        let el: Element = format!("<jingle xmlns='urn:xmpp:jingle:1'>{xml}</jingle>")
            .parse()
            .expect("xml");
        el.children().cloned().collect()
    }

    const CLIENT: &str = "<content name='audio'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>\
        <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='11'><parameter name='msid' value='s a'/></source>\
        </description></content>\
        <content name='video'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='video'>\
        <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='21'><parameter name='msid' value='s v'/></source>\
        <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='22'/>\
        <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='23'/>\
        <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='24'/>\
        <ssrc-group xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' semantics='SIM'><source ssrc='21'/><source ssrc='22'/></ssrc-group>\
        <ssrc-group xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' semantics='FID'><source ssrc='21'/><source ssrc='23'/></ssrc-group>\
        <ssrc-group xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' semantics='FID'><source ssrc='22'/><source ssrc='24'/></ssrc-group>\
        </description></content>";

    #[test]
    fn parse_name_and_encode() {
        let c = contents(CLIENT);
        let s = EndpointSources::from_contents(c.iter()).expect("parse");
        assert_eq!(s.audio.len(), 1);
        assert_eq!(s.video.len(), 4);
        assert_eq!(s.video_groups.len(), 3);
        s.validate().expect("valid");
        let col = s.to_colibri("ep1");
        let ids: Vec<&str> = col.media_sources.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(
            ids,
            ["ep1-a0", "ep1-v0"],
            "grouped video SSRCs share one name"
        );
        assert_eq!(col.media_sources[1].sources.len(), 4);
        assert_eq!(col.media_sources[1].ssrc_groups.len(), 3);
        let j = s.to_json();
        assert_eq!(j[0][0]["s"], 21);
        assert_eq!(j[0][0]["m"], "s v");
        assert_eq!(j[1][0], json!(["s", 21, 22]));
        assert_eq!(j[2][0]["s"], 11);
        let xml = s.xml_children(MediaType::Video, "room@c/ep1");
        assert_eq!(xml.len(), 7);
        assert!(String::from(&xml[0]).contains("owner='room@c/ep1'"));
    }

    #[test]
    fn validation() {
        let c = contents(CLIENT);
        let good = EndpointSources::from_contents(c.iter()).expect("parse");
        let mut conf = ConferenceSources::default();
        conf.add("a", &good).expect("first endpoint");
        // Another endpoint reusing an SSRC.
        let err = conf.add("b", &good).expect_err("conflict");
        assert!(err.0.contains("already used"), "{err}");
        // The same endpoint adding it again.
        assert!(conf.add("a", &good).is_err());
        // A group naming a foreign SSRC.
        let bad = contents(
            "<content name='video'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='video'>\
            <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='31'/>\
            <ssrc-group xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' semantics='FID'><source ssrc='31'/><source ssrc='99'/></ssrc-group>\
            </description></content>",
        );
        let bad = EndpointSources::from_contents(bad.iter()).expect("parse");
        assert!(conf.add("b", &bad).is_err());
        // Too many.
        let mut many = EndpointSources::default();
        for i in 1..=21 {
            many.audio.push(Source::new(1000 + i));
        }
        assert!(many.validate().expect_err("limit").0.contains("too many"));
        // Unparsable SSRC.
        let junk = contents(
            "<content name='audio'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>\
            <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='x'/></description></content>",
        );
        assert!(EndpointSources::from_contents(junk.iter()).is_err());
        // Removal returns what was there and drops its groups.
        let removed = conf.remove(
            "a",
            &EndpointSources {
                video: vec![Source::new(22), Source::new(24)],
                ..Default::default()
            },
        );
        assert_eq!(removed.video.len(), 2);
        assert_eq!(removed.video_groups.len(), 2, "SIM and the 22/24 FID");
        assert_eq!(conf.get("a").map(|s| s.video_groups.len()), Some(1));
        assert_eq!(conf.remove_endpoint("a").audio.len(), 1);
        assert!(conf.get("a").is_none());
    }

    #[test]
    fn signalled_names_are_kept() {
        let mut s = EndpointSources::default();
        let mut a = Source::new(5);
        a.name = Some("ep-v1".into());
        s.video.push(a);
        s.video.push(Source::new(6));
        s.video.push(Source::new(7));
        s.video_groups.push(SsrcGroup {
            semantics: Semantics::Fid,
            ssrcs: vec![5, 6],
        });
        let col = s.to_colibri("ep");
        let ids: Vec<&str> = col.media_sources.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["ep-v1", "ep-v0"]);
        assert_eq!(
            json_message(&[("ep", &s)]),
            r#"{"sources":{"ep":[[{"n":"ep-v1","s":5},{"s":6},{"s":7}],[["f",5,6]],[],[]]}}"#
        );
    }
}
