//! What a case sends: the planned notifications of its instances that are due, chosen (the
//! latest of a group, nothing stale, nothing outside the sending hours), combined per person
//! across the case's instances, worded by the workflow and by the gemeente's plugin.

use super::*;

impl Case {
    pub(in crate::engine) fn facts_for<'a>(&self, engine: &'a Engine) -> Facts<'a> {
        Facts {
            birth: self.facts.birth,
            calendar: &engine.calendar,
        }
    }

    pub(super) fn plan(
        &self,
        engine: &Engine,
        instance: &Instance,
        horizon: Timestamp,
        out: &mut Vec<Planned>,
    ) {
        let workflow = &engine.workflows[instance.workflow];
        let calendar = engine.calendar_for(&self.gemeente);
        schedule::plan(
            workflow,
            instance,
            &self.facts_for(engine),
            calendar,
            engine.settings.send_hour,
            horizon,
            out,
        );
    }

    /// What the state says is due by `now` and has not been handled. What is overdue for
    /// sending goes out at once if the sending hours are open (a working day, from the send
    /// hour on), otherwise when they next open: nobody gets a reminder at night or on Sunday
    /// because an event arrived then. When several reminders of
    /// one deadline, or several repeats of one escalation step, are overdue for sending (a late
    /// event, a correction, a restart), only the latest goes out: it carries the current state,
    /// and the rest would be noise. A reminder for a deadline already past is not sent at all.
    ///
    /// Also works out the next wakeup, from the same plan.
    pub(super) fn due_notifications(
        &mut self,
        engine: &Engine,
        now: Timestamp,
    ) -> Vec<Notification> {
        let today = calendar::local_day(now);
        let mut out = Vec::new();
        let mut planned = Vec::new();
        let mut next = self.next_transition(engine, now);
        let window = SendWindow::at(engine, &self.gemeente, now);
        // What goes out this morning, of every instance: (instance, planned).
        let mut sending: Vec<(usize, Planned)> = Vec::new();
        for i in 0..self.instances.len() {
            planned.clear();
            self.plan(engine, &self.instances[i], now, &mut planned);
            planned.retain(|p| {
                // Nothing is sent before its moment, so what lies ahead cannot be handled yet.
                if p.moment > now {
                    if next.is_none_or(|n| p.moment < n) {
                        next = Some(p.moment);
                    }
                    return false;
                }
                !self.handled.contains(&identity_hash(&self.instances[i], p))
            });
            // Reminders of a deadline say the same thing, so they form one group; each step of
            // an escalation chain reaches other people, so each step is its own group.
            let group_of = |p: &Planned| {
                (
                    p.deadline,
                    p.occurrence,
                    p.kind,
                    if p.kind == Kind::Escalation {
                        p.step
                    } else {
                        0
                    },
                )
            };
            planned.sort_by_key(|p| (group_of(p), p.moment, p.level));
            let mut chosen: Vec<&Planned> = Vec::new();
            let mut passed_over: Vec<u64> = Vec::new();
            for group in planned.chunk_by(|a, b| group_of(a) == group_of(b)) {
                let on_time: Vec<&Planned> = group.iter().filter(|p| p.moment == now).collect();
                // Two of a group on one morning (reminders whose days off moved them onto the
                // same working day, repeats of a step that caught up with each other) say the
                // same thing to the same people: the last of them goes, once.
                let keep: Vec<&Planned> = if !on_time.is_empty() {
                    on_time.last().copied().into_iter().collect()
                } else if !window.is_open {
                    // Overdue, but outside the sending hours: keep it for when they open.
                    next = next.min(Some(window.opens)).or(Some(window.opens));
                    continue;
                } else {
                    group.last().into_iter().collect()
                };
                for p in group {
                    let stale_reminder = p.kind == Kind::Reminder && p.due < today;
                    if keep.iter().any(|k| std::ptr::eq(*k, p)) && !stale_reminder {
                        chosen.push(p);
                    } else {
                        passed_over.push(identity_hash(&self.instances[i], p));
                    }
                }
            }
            let instance = &self.instances[i];
            for p in &chosen {
                self.handled.insert(identity_hash(instance, p));
            }
            sending.extend(chosen.into_iter().map(|p| (i, p.clone())));
            self.handled.extend(passed_over);
        }
        // Deadlines of one case with one due date, sent on one morning, whichever workflows
        // they belong to (Dalfsen's streefdatum is its legal term; a young person's plan at 16
        // and handover at 18 may fall due together): each person gets one message that names
        // them all.
        let mut done = vec![false; sending.len()];
        for first in 0..sending.len() {
            if done[first] {
                continue;
            }
            let key = (sending[first].1.kind, sending[first].1.due);
            let same_day: Vec<(usize, &Planned)> = (first..sending.len())
                .filter(|&j| (sending[j].1.kind, sending[j].1.due) == key)
                .inspect(|&j| done[j] = true)
                .map(|j| (sending[j].0, &sending[j].1))
                .collect();
            let groups = combine::by_recipient(
                &same_day,
                |(i, p)| {
                    recipients(
                        &engine.workflows[self.instances[*i].workflow],
                        p,
                        &self.gemeente,
                    )
                },
                |(i, p), (j, q)| i == j && p.deadline == q.deadline,
                |(_, p)| p.level,
            );
            for (members, to) in groups {
                out.push(self.notification(engine, &members, to, now));
            }
        }
        self.next_wakeup = next;
        self.gemeente_wording(engine, &mut out);
        out
    }

    /// The gemeente's own wording of the messages, asked of its plugin in one call for all of
    /// them; a message the plugin leaves alone keeps the workflow's text.
    pub(super) fn gemeente_wording(&self, engine: &Engine, out: &mut [Notification]) {
        let Some(hooks) = &engine.hooks else { return };
        if out.is_empty() || !hooks.wants_messages(&self.gemeente) {
            return;
        }
        let asked: Vec<MessageHook<'_>> = out
            .iter()
            .map(|n| MessageHook {
                kind: n.kind,
                workflow: &n.workflow,
                deadline: &n.deadline,
                case: &n.case,
                due: n.due,
                level: n.level,
                text: &n.message,
            })
            .collect();
        let answers = hooks.messages(&self.gemeente, &asked);
        for (notification, answer) in out.iter_mut().zip(answers) {
            if let Some(text) = answer {
                notification.message = text;
            }
        }
    }

    /// The message to `to` about `members` (each with the index of its instance): one planned
    /// notification, or several of one morning with one due date that reach the same people,
    /// of one workflow or of several. A message about several is recorded under its first
    /// member's workflow, instance and deadline, and names every task in its text.
    pub(super) fn notification(
        &self,
        engine: &Engine,
        members: &[(usize, &Planned)],
        to: Vec<String>,
        now: Timestamp,
    ) -> Notification {
        let send_day = calendar::local_day(now);
        let (first_instance, first) = members[0];
        let instance = &self.instances[first_instance];
        let workflow = &engine.workflows[instance.workflow];
        // Two tasks of one title in one message (two complaints of one case due the same day)
        // are told apart by their instance's key: `Klacht in behandeling nemen (K-9)`.
        let title_of = |&(i, p): &(usize, &Planned)| {
            engine.workflows[self.instances[i].workflow].deadlines[p.deadline]
                .title
                .as_str()
        };
        let titles: Vec<String> = members
            .iter()
            .map(|member| {
                let (i, _) = *member;
                let shared = members
                    .iter()
                    .any(|other| other.0 != i && title_of(other) == title_of(member));
                match (&self.instances[i].key, shared) {
                    (Some(key), true) => format!("{} ({key})", title_of(member)),
                    _ => title_of(member).to_string(),
                }
            })
            .collect();
        // A task whose title another member's begins with is that task with a stricter term
        // (`Klacht afhandelen` beside `Klacht afhandelen binnen de wettelijke termijn`, due on
        // one day in Dalfsen): the message names it once, by the stricter one.
        let covered = |k: usize| {
            let (i, _) = members[k];
            let own = title_of(&members[k]);
            members.iter().any(|other| {
                other.0 == i && title_of(other) != own && title_of(other).starts_with(own)
            })
        };
        let texts: Vec<(&str, MessageValues<'_>)> = members
            .iter()
            .zip(&titles)
            .enumerate()
            .filter(|(k, _)| !covered(*k))
            .map(|(_, (&(i, p), title))| {
                let instance = &self.instances[i];
                let workflow = &engine.workflows[instance.workflow];
                let deadline = &workflow.deadlines[p.deadline];
                let (template, dagen, late) = match p.kind {
                    Kind::Reminder => (
                        deadline
                            .messages
                            .reminder
                            .as_ref()
                            .or(workflow.messages.reminder.as_ref())
                            .map_or(notification::DEFAULT_REMINDER, |t| t.0.as_str()),
                        send_day.days_until(p.due),
                        false,
                    ),
                    _ => (
                        deadline.escalate[p.step]
                            .message
                            .as_ref()
                            .or(deadline.messages.escalation.as_ref())
                            .or(workflow.messages.escalation.as_ref())
                            .map_or(
                                default_escalation(
                                    &to,
                                    deadline,
                                    workflow.role_in(&self.gemeente, &deadline.owner),
                                    p.step,
                                    p.level,
                                ),
                                |t| t.0.as_str(),
                            ),
                        p.due.days_until(send_day),
                        true,
                    ),
                };
                let values = MessageValues {
                    titel: title,
                    workflow: &workflow.title,
                    casus: &self.case,
                    due: Some(p.due),
                    dagen,
                    late,
                    niveau: p.level,
                    eigenaar: {
                        let owner = workflow.role_in(&self.gemeente, &deadline.owner);
                        workflow.roles.get(owner).map_or(owner, String::as_str)
                    },
                    data: &instance.data,
                    words: &workflow.words,
                };
                (template, values)
            })
            .collect();
        let mut message = if texts.iter().all(|(template, _)| *template == texts[0].0) {
            let titles: Vec<&str> = texts.iter().map(|(_, values)| values.titel).collect();
            let titel = combine::titles(&titles);
            let (template, values) = &texts[0];
            notification::render(
                template,
                &MessageValues {
                    titel: &titel,
                    niveau: members.iter().map(|(_, p)| p.level).max().unwrap_or(0),
                    ..*values
                },
            )
        } else {
            let parts: Vec<String> = texts
                .iter()
                .map(|(template, values)| notification::render(template, values))
                .collect();
            parts.join(" ")
        };
        if members.iter().all(|(_, p)| p.last) {
            message.push(' ');
            message.push_str(notification::last_escalation(members.len()));
        }
        let ids: Vec<String> = members
            .iter()
            .map(|&(i, p)| {
                let instance = &self.instances[i];
                let workflow = &engine.workflows[instance.workflow];
                identity(instance, workflow, p, &p.step.to_string()).id()
            })
            .collect();
        // One notification to everyone it was planned for keeps its own id; a combined one,
        // or one split by recipient, is another message and gets an id of its parts.
        let id = if members.len() == 1 && *to == *recipients(workflow, first, &self.gemeente) {
            ids[0].clone()
        } else {
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            notification::digest_id(&ids, &to.join(" "))
        };
        Notification {
            id,
            at: now,
            kind: first.kind,
            workflow: workflow.name.clone(),
            instance: instance.id.clone(),
            gemeente: self.gemeente.clone(),
            case: self.case.clone(),
            deadline: workflow.deadlines[first.deadline].id.clone(),
            due: Some(first.due),
            to,
            level: members.iter().map(|(_, p)| p.level).max().unwrap_or(0),
            message,
            items: Vec::new(),
            report: None,
        }
    }
}

/// When overdue notifications may go out: from the send hour on a working day.
pub(super) struct SendWindow {
    is_open: bool,
    /// The next moment the window opens, when it is closed.
    opens: Timestamp,
}

impl SendWindow {
    fn at(engine: &Engine, gemeente: &str, now: Timestamp) -> SendWindow {
        let calendar = engine.calendar_for(gemeente);
        let hour = engine.settings.send_hour;
        let today = calendar::local_day(now);
        let today_opens = calendar::send_moment(today, hour);
        if calendar.is_working_day(today) && now < today_opens {
            return SendWindow {
                is_open: false,
                opens: today_opens,
            };
        }
        let is_open = calendar.is_working_day(today);
        let next_day = calendar.working_day_on_or_after(today.add_days(1));
        SendWindow {
            is_open,
            opens: calendar::send_moment(next_day, hour),
        }
    }
}

/// Who a planned notification reaches: a reminder the deadline's owner, an escalation its
/// step's roles; each as the gemeente names it (`roles_in`).
pub(super) fn recipients<'w>(
    workflow: &'w Workflow,
    p: &Planned,
    gemeente: &str,
) -> std::borrow::Cow<'w, [String]> {
    let deadline = &workflow.deadlines[p.deadline];
    let planned = match p.kind {
        Kind::Reminder => std::slice::from_ref(&deadline.owner),
        _ => deadline.escalate[p.step].to.as_slice(),
    };
    match workflow.roles_in.get(gemeente) {
        Some(instead) if planned.iter().any(|role| instead.contains_key(role)) => planned
            .iter()
            .map(|role| instead.get(role).unwrap_or(role).clone())
            .collect::<Vec<_>>()
            .into(),
        _ => planned.into(),
    }
}

pub(super) fn identity<'a>(
    instance: &'a Instance,
    workflow: &'a Workflow,
    p: &Planned,
    detail: &'a str,
) -> Identity<'a> {
    Identity {
        instance: &instance.id,
        deadline: &workflow.deadlines[p.deadline].id,
        occurrence: p.occurrence,
        due: Some(p.due),
        kind: p.kind,
        level: p.level,
        detail,
    }
}

/// A cheap in-memory key for the handled set; the public id is SHA-256 and only made on send.
/// The instance id is hashed once, when the instance is made; the rest are small integers.
pub(super) fn identity_hash(instance: &Instance, p: &Planned) -> u64 {
    let fields = [
        (p.deadline as u64) << 48 | u64::from(p.occurrence) << 16 | p.step as u64 & 0xFFFF,
        (p.due.number() as u32 as u64) << 32 | u64::from(p.level) << 8 | p.kind as u64,
    ];
    fields.iter().fold(instance.id_hash, |h, f| mix(h ^ f))
}

/// The finaliser of SplitMix64: spreads every input bit over the output.
pub(super) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The handled set's keys are already well mixed: hashing them again would be wasted work.
#[derive(Default, Clone, Copy, Debug)]
pub(super) struct PassThrough(u64);

impl std::hash::Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The default escalation that fits who reads it: the owner; the first one up from the owner,
/// who speaks to them; or someone told after another already was (an earlier step to someone
/// but the owner, or a repeat of this one), who finds out why it stalls.
fn default_escalation(
    to: &[String],
    deadline: &crate::workflow::Deadline,
    owner: &str,
    step: usize,
    level: u32,
) -> &'static str {
    // `to` names roles as the gemeente fills them (`owner` too); the steps as written.
    let told_before = deadline.escalate[..step]
        .iter()
        .any(|earlier| earlier.to.iter().any(|role| *role != deadline.owner))
        || level as usize > step + 1;
    if to.iter().any(|role| role == owner) {
        notification::DEFAULT_ESCALATION_OWNER
    } else if told_before {
        notification::DEFAULT_ESCALATION_HIGHER
    } else {
        notification::DEFAULT_ESCALATION
    }
}
