//! Time passing for a case: workflows that start on a date (a birthday while in care), and
//! instances started, on a date or by an event.

use super::*;

impl Case {
    /// Moves time forward: starts on a date, and recurring deadlines that pass unmet.
    pub(super) fn advance(&mut self, engine: &Engine, now: Timestamp) {
        if self.clock.is_some_and(|clock| clock >= now) {
            return;
        }
        let yesterday = self.clock.map(calendar::local_day);
        self.clock = Some(now);
        let today = calendar::local_day(now);
        // Starts on a date change only with the day (or with the facts, which `fold` handles).
        if yesterday != Some(today) {
            self.start_on_dates(engine, today, false);
        }
        let facts = Facts {
            birth: self.facts.birth,
            calendar: &engine.calendar,
        };
        for instance in &mut self.instances {
            if !instance.is_open() {
                continue;
            }
            let workflow = &engine.workflows[instance.workflow];
            for index in 0..workflow.deadlines.len() {
                roll_recurring(workflow, instance, index, &facts, today);
            }
        }
    }

    /// The day a date-started workflow would start for this case, if it has not yet.
    pub(super) fn pending_date_start(
        &mut self,
        engine: &Engine,
        index: usize,
        workflow: &Workflow,
    ) -> Option<Day> {
        if self.facts.closed {
            return None;
        }
        let Trigger::Date { .. } = &workflow.start.trigger else {
            return None;
        };
        let previous = self.instances.iter().rev().find(|i| i.workflow == index);
        let after = match previous.map(|i| i.status) {
            None => None,
            // Withdrawn (care stopped): a new period of care may start it again.
            Some(Status::Cancelled(day)) => Some(day),
            Some(_) => return None,
        };
        self.remembered_date_start(engine, index, after)
    }

    /// [`Case::date_start`], worked out once per event: it is asked at every event and every
    /// wakeup of a case, and depends only on the facts (which change only with an event) and
    /// on `after`.
    fn remembered_date_start(
        &mut self,
        engine: &Engine,
        index: usize,
        after: Option<Day>,
    ) -> Option<Day> {
        if let Some(Some((asked, start))) = self.date_starts.get(index)
            && *asked == after
        {
            return *start;
        }
        let start = self.date_start(engine, &engine.workflows[index], after);
        if self.date_starts.len() <= index {
            self.date_starts.resize(index + 1, None);
        }
        self.date_starts[index] = Some((after, start));
        start
    }

    /// The start day of a date-started workflow under the current facts: the date itself, or
    /// the first day in care after it (and before `until`) when `in_care` is required.
    pub(super) fn date_start(
        &self,
        engine: &Engine,
        workflow: &Workflow,
        after: Option<Day>,
    ) -> Option<Day> {
        if !workflow.gemeenten.applies_to(&self.gemeente) {
            return None;
        }
        let Trigger::Date { on, until } = &workflow.start.trigger else {
            return None;
        };
        let birth = self.facts.birth?.full()?;
        // Asked at every event of a case: the gemeente's parameters only when a term is one.
        let params = if on.uses_params() || until.as_ref().is_some_and(DateExpr::uses_params) {
            engine.params(&self.gemeente, workflow, &Map::new())
        } else {
            Vec::new()
        };
        let eval = |expr: &DateExpr| -> Option<Day> {
            let Anchor::Birthday(age) = expr.anchor else {
                return None;
            };
            Some(expr.add_terms(engine.calendar.birthday(birth, age), &params))
        };
        let from = eval(on)?.max(after.unwrap_or(Day::from_number(i32::MIN)));
        let until = until.as_ref().and_then(eval);
        match workflow.start.in_care {
            Some(true) => self.facts.first_day_in_care(from, until),
            Some(false) => (!self.facts.in_care_on(from)).then_some(from),
            None => until.is_none_or(|until| from < until).then_some(from),
        }
    }

    /// Starts what falls due by `today`; with `facts_changed`, also moves or undoes starts
    /// that a correction of the facts (the birth date, care) makes wrong.
    pub(super) fn start_on_dates(&mut self, engine: &Engine, today: Day, facts_changed: bool) {
        if !facts_changed
            && let Some(next) = self.pending_starts
            && next.is_none_or(|moment| calendar::local_day(moment) > today)
        {
            return;
        }
        self.pending_starts = None;
        for (index, workflow) in engine.workflows.iter().enumerate() {
            let Trigger::Date { .. } = &workflow.start.trigger else {
                continue;
            };
            let open = self
                .instances
                .iter()
                .rposition(|i| i.workflow == index && i.is_open());
            if open.is_some() && !facts_changed {
                continue;
            }
            // A correction of the birth date may move or undo a start.
            if let Some(position) = open {
                let earlier_cancel = self.instances[..position]
                    .iter()
                    .rev()
                    .find(|i| i.workflow == index)
                    .and_then(|i| match i.status {
                        Status::Cancelled(day) => Some(day),
                        _ => None,
                    });
                match self.remembered_date_start(engine, index, earlier_cancel) {
                    Some(day) if day <= today => self.instances[position].start = day,
                    _ => {
                        self.instances.remove(position);
                    }
                }
                continue;
            }
            if let Some(day) = self.pending_date_start(engine, index, workflow)
                && day <= today
            {
                let params = engine.params(&self.gemeente, workflow, &Map::new());
                let origin = Origin {
                    key: None,
                    start: day,
                    started_at: calendar::send_moment(day, 0),
                    data: Map::new(),
                    params,
                };
                self.start_instance(engine, index, origin);
            }
        }
    }

    /// Starts an instance, unless a workflow that does the same work is open for the case
    /// (`start.unless_open`).
    pub(super) fn start_instance(&mut self, engine: &Engine, index: usize, origin: Origin) {
        let workflow = &engine.workflows[index];
        let covered = workflow.start.unless_open.iter().any(|(other, _)| {
            self.instances
                .iter()
                .any(|i| i.is_open() && engine.workflows[i.workflow].name == *other)
        });
        if covered {
            return;
        }
        let mut id = format!("{}/{}/{}", workflow.name, self.gemeente, self.case);
        if let Some(key) = &origin.key {
            id.push('/');
            id.push_str(key);
        }
        let earlier = self
            .instances
            .iter()
            .filter(|i| i.workflow == index && i.key == origin.key)
            .count();
        if earlier > 0 {
            id.push_str(&format!("#{}", earlier + 1));
        }
        let mut instance = Instance::new(id, index, workflow, origin);
        let facts = Facts {
            birth: self.facts.birth,
            calendar: &engine.calendar,
        };
        for (d, deadline) in workflow.deadlines.iter().enumerate() {
            if deadline.recurring.is_some()
                && let Some(due) = instance.first_occurrence(workflow, d, &facts)
            {
                instance.deadlines[d].occurrences.push(Occurrence {
                    due,
                    status: OccurrenceStatus::Open,
                });
            }
        }
        if let Some(hooks) = &engine.hooks
            && hooks.wants_start(&self.gemeente, &workflow.name)
        {
            let context = HookContext::Start {
                workflow: workflow.name.clone(),
                instance: instance.id.clone(),
                case: self.case.clone(),
                data: instance.data.clone(),
            };
            self.hook_calls.push(HookCall {
                gemeente: self.gemeente.clone(),
                context,
                source: format!("start:{}", instance.id),
                // The moment the case learned of the start: a start on a date that an event
                // reveals (care begins) is signalled with that event, not at midnight.
                at: self
                    .clock
                    .map_or(instance.started_at, |clock| clock.max(instance.started_at)),
            });
        }
        self.instances.push(instance);
    }
}
