//! The task that owns one MUC service and the Jitsi components attached to
//! it (speakerstats, conference_duration): the IO edge around the sans-IO
//! `muc::MucService` and `jitsi_components::JitsiComponents`.
//!
//! One task per MUC component owns all its rooms, so room state needs no
//! lock; the router delivers stanzas for the MUC domain (and the tenant
//! domains mapped onto it) and for the attached component domains to this
//! task's inbox.

use std::sync::Arc;

use minidom::Element;
use tokio::sync::{mpsc, watch};

use crate::config::{ComponentType, ServerConfig};
use crate::jitsi_components::JitsiComponents;
use crate::muc::{MucConfig, MucService, RoomEvent};
use crate::router::{Delivery, INBOX_DEPTH, Target};
use crate::server::Shared;

/// What one MUC task serves, derived from the config.
pub struct MucPlan {
    pub muc: MucConfig,
    pub speakerstats: Option<String>,
    pub conference_duration: Option<String>,
}

/// One plan per `type = "muc"` component, with the Jitsi components whose
/// `muc_component` names it.
pub fn plans(cfg: &ServerConfig) -> Vec<MucPlan> {
    cfg.component
        .iter()
        .filter(|c| c.kind == Some(ComponentType::Muc))
        .map(|c| {
            let attached = |t: ComponentType| {
                cfg.component
                    .iter()
                    .find(|j| {
                        j.kind == Some(t)
                            && j.muc_component
                                .as_deref()
                                .is_some_and(|m| m.eq_ignore_ascii_case(&c.host))
                    })
                    .map(|j| j.host.to_ascii_lowercase())
            };
            let mapper = c.modules_enabled.iter().any(|m| m == "muc_domain_mapper");
            MucPlan {
                muc: MucConfig {
                    domain: c.host.to_ascii_lowercase(),
                    admins: c.admins.iter().map(|a| a.to_ascii_lowercase()).collect(),
                    room_locking: c.muc_room_locking,
                    default_public_jids: c.muc_room_default_public_jids,
                    restrict_room_creation: c.restrict_room_creation,
                    meeting_id: c.modules_enabled.iter().any(|m| m == "muc_meeting_id"),
                    mapper_base: if mapper {
                        cfg.muc_mapper_domain_base.clone()
                    } else {
                        None
                    },
                },
                speakerstats: attached(ComponentType::SpeakerstatsComponent),
                conference_duration: attached(ComponentType::ConferenceDurationComponent),
            }
        })
        .collect()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Register the plan's domains with the router and run until `stop`.
pub fn spawn(
    plan: MucPlan,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let (tx, mut rx) = mpsc::channel::<Delivery>(INBOX_DEPTH * 8);
    let mut domains = vec![plan.muc.domain.clone()];
    domains.extend(plan.speakerstats.iter().cloned());
    domains.extend(plan.conference_duration.iter().cloned());
    for d in &domains {
        if shared.router.register_component(d, tx.clone()).is_err() {
            tracing::error!(domain = %d, "internal component domain registered twice");
        }
    }
    let muc_domain = plan.muc.domain.clone();
    let mut muc = MucService::new(plan.muc);
    let mut jitsi = JitsiComponents::new(plan.speakerstats, plan.conference_duration);
    tracing::info!(domain = %muc_domain, "MUC service started");
    tokio::spawn(async move {
        let mut out: Vec<Element> = Vec::new();
        let mut events: Vec<RoomEvent> = Vec::new();
        // Gauges follow the room events (O(1) per stanza): summing occupants
        // over every room per stanza made each stanza cost O(rooms).
        let mut rooms_seen = 0i64;
        loop {
            let delivery = tokio::select! {
                _ = stop.changed() => break,
                d = rx.recv() => d,
            };
            let Some(Delivery::Stanza(stanza)) = delivery else {
                if delivery.is_none() {
                    break;
                }
                continue;
            };
            let now = now_ms();
            let domain = stanza
                .attr("to")
                .and_then(Target::parse)
                .map(|t| t.domain)
                .unwrap_or_default();
            if jitsi.handles_domain(&domain) {
                jitsi.handle(stanza, now, &muc, &mut out);
            } else {
                muc.handle(stanza, now, &mut out, &mut events);
                for ev in events.drain(..) {
                    log_event(&ev);
                    match &ev {
                        RoomEvent::Joined { .. } => shared.counters.muc_occupants.inc(),
                        RoomEvent::Left { .. } => shared.counters.muc_occupants.dec(),
                        RoomEvent::Destroyed { .. } => {}
                    }
                    jitsi.on_room_event(&ev, now, &mut out);
                }
            }
            for s in out.drain(..) {
                shared.router.route(s);
            }
            let rooms = muc.room_count() as i64;
            shared.counters.muc_rooms.add(rooms - rooms_seen);
            rooms_seen = rooms;
        }
        for d in &domains {
            shared.router.unregister_component(d);
        }
        tracing::info!(domain = %muc_domain, "MUC service stopped");
    })
}

fn log_event(ev: &RoomEvent) {
    match ev {
        RoomEvent::Joined {
            room,
            nick,
            occupants,
            ..
        } => {
            tracing::info!(%room, %nick, occupants, "occupant joined");
        }
        RoomEvent::Left { room, nick, .. } => tracing::info!(%room, %nick, "occupant left"),
        RoomEvent::Destroyed { room } => tracing::info!(%room, "room destroyed"),
    }
}

impl crate::jitsi_components::RoomDirectory for MucService {
    fn canonical_room(&self, room_jid: &str) -> Option<String> {
        MucService::canonical_room(self, room_jid)
    }

    fn occupant_nick(&self, room: &str, real_jid: &str) -> Option<(String, Option<String>)> {
        self.occupant_by_real_jid(room, real_jid)
            .map(|o| (o.nick, o.display_name))
    }
}
