//! The runtime conformance suite: the delivery guarantees a [`Consumer`] gives on top of
//! any [`Broker`] and [`StateStore`] pair — retries with backoff, dead letters and
//! redrive, a pattern consumer kept away from dead letters, dedupe across redeliveries, claim checks, restart, competing consumers and
//! per-partition-key order. Every backend pair runs the same checks.
//!
//! Each check reads its own topic through a fresh subscription and uses fresh user ids,
//! so a caller only needs brokers whose topics no earlier run wrote to (a fresh stream
//! prefix, exchange or data directory) and a state store whose keys no other run shares.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use async_trait::async_trait;
use switchyard_bus::{Broker, SubscriptionConfig};
use switchyard_contracts::{
    AnyOfficeEvent, CalendarItem, Contact, ContractError, Email, Envelope, EventSet, LlmChat,
    OfficeEvent, OfficeItem, Operation, Registry, ShipmentUpdate, SyncType, Task, Todo,
    decode_office_event, office_set,
};
use switchyard_state::StateStore;

use crate::{
    ClaimCheck, Consumer, ConsumerConfig, DeadLetterFilter, DeadLetterQueue, FailureKind, Handler,
    Incoming, KeyTtls, Outcome, Publisher, StepReport,
};

/// How long a check waits for messages it expects before it fails.
const PATIENCE: Duration = Duration::from_secs(20);

/// Runs every check against `broker` and `state`; the error names the check that failed.
pub async fn runtime_conformance_suite(
    broker: Arc<dyn Broker>,
    state: Arc<dyn StateStore>,
) -> anyhow::Result<()> {
    let suite = Suite { broker, state };
    suite
        .retries_back_off_then_succeed_once()
        .await
        .context("retries_back_off_then_succeed_once")?;
    suite
        .dead_letter_and_redrive()
        .await
        .context("dead_letter_and_redrive")?;
    suite
        .a_pattern_consumer_never_reads_dead_letters()
        .await
        .context("a_pattern_consumer_never_reads_dead_letters")?;
    suite
        .dedupe_across_redeliveries()
        .await
        .context("dedupe_across_redeliveries")?;
    suite.claim_check().await.context("claim_check")?;
    suite
        .restart_resumes_where_it_stopped()
        .await
        .context("restart_resumes_where_it_stopped")?;
    suite
        .competing_consumers_handle_each_event_once()
        .await
        .context("competing_consumers_handle_each_event_once")?;
    suite
        .per_partition_key_order()
        .await
        .context("per_partition_key_order")?;
    Ok(())
}

/// What a [`Recorder`] saw of one event.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The item id.
    pub item_id: String,
    /// The user (partition key).
    pub user_id: String,
    /// `X-Retry-Count` of the delivery.
    pub retry_count: u32,
    /// When it was handed over.
    pub at: Instant,
}

/// A handler of every office event that records what it saw and fails on demand.
#[derive(Default)]
pub struct Recorder {
    seen: Mutex<Vec<Seen>>,
    handled: Mutex<Vec<String>>,
    retry_below: Mutex<u32>,
    poison: Mutex<HashSet<String>>,
    note_lengths: Mutex<Vec<usize>>,
}

impl Recorder {
    /// Every handover, in order.
    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.seen).clone()
    }

    /// Item ids handled successfully, in order.
    pub fn handled(&self) -> Vec<String> {
        lock(&self.handled).clone()
    }

    /// Over the items handled: (distinct ids, ids handled more than once, handlings
    /// beyond the first), which tell how often redelivery repeated an effect.
    pub fn repeats(&self) -> (usize, usize, u64) {
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for id in lock(&self.handled).iter() {
            *counts.entry(id.clone()).or_default() += 1;
        }
        let repeated = counts.values().filter(|count| **count > 1).count();
        let extra = counts.values().map(|count| count - 1).sum();
        (counts.len(), repeated, extra)
    }

    /// Answer `Retry` while a delivery's retry count is below `count`.
    pub fn retry_below(&self, count: u32) {
        *lock(&self.retry_below) = count;
    }

    /// Fail these item ids for good (an empty set heals them).
    pub fn poison(&self, ids: &[&str]) {
        *lock(&self.poison) = ids.iter().map(|id| id.to_string()).collect();
    }

    /// Lengths of the notes of the todos handled, which proves a claim check resolved.
    pub fn note_lengths(&self) -> Vec<usize> {
        lock(&self.note_lengths).clone()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[async_trait]
impl Handler for Arc<Recorder> {
    type Event = AnyOfficeEvent;

    fn decode(&self, envelope: &Envelope) -> Result<AnyOfficeEvent, ContractError> {
        decode_office_event(envelope)
    }

    async fn handle(&self, batch: Vec<Incoming<AnyOfficeEvent>>) -> Vec<Outcome> {
        let retry_below = *lock(&self.retry_below);
        let poison = lock(&self.poison).clone();
        batch
            .into_iter()
            .map(|incoming| {
                let item_id = incoming.event.item_id().to_string();
                lock(&self.seen).push(Seen {
                    item_id: item_id.clone(),
                    user_id: incoming.event.user_id().to_string(),
                    retry_count: incoming.retry_count,
                    at: Instant::now(),
                });
                if poison.contains(&item_id) {
                    Outcome::Fail(format!("{item_id} is poison"))
                } else if incoming.retry_count < retry_below {
                    Outcome::Retry("disk busy".into())
                } else {
                    if let AnyOfficeEvent::Todo(todo) = &incoming.event {
                        lock(&self.note_lengths).push(todo.item.notes.len());
                    }
                    lock(&self.handled).push(item_id);
                    Outcome::Done
                }
            })
            .collect()
    }
}

/// The office set with fast retries: 2 retries, after 100 ms then 200 ms.
pub fn fast_retry_registry() -> Registry {
    let mut set: EventSet = office_set::event_set();
    for event in &mut set.events {
        event.max_retries = 2;
        event.backoff_ms = &[100, 200];
    }
    Registry::new(vec![set])
}

/// An office event envelope for `item` of `user`.
pub fn office_envelope<T: OfficeItem>(user: &str, item: T) -> Envelope {
    OfficeEvent::new(
        Operation::Create,
        SyncType::Backfill,
        "conformance",
        user,
        "batch-1",
        item,
    )
    .to_envelope("/conformance", "conformance")
    .expect("suite events are valid")
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

struct Suite {
    broker: Arc<dyn Broker>,
    state: Arc<dyn StateStore>,
}

/// One consumer of a fresh subscription of `topic`, its recorder and a publisher.
struct Rig {
    consumer: Consumer<Arc<Recorder>>,
    recorder: Arc<Recorder>,
    publisher: Publisher,
    subscription: SubscriptionConfig,
}

impl Suite {
    async fn rig(&self, topic: &str, ack_deadline: Duration, batch_size: usize) -> Rig {
        let name = unique(&format!("conformance-{topic}"));
        let config = self.consumer_config(&name, topic, ack_deadline, batch_size);
        let subscription = config.subscription.clone();
        let recorder = Arc::new(Recorder::default());
        let registry = Arc::new(fast_retry_registry());
        let consumer = Consumer::new(
            self.broker.clone(),
            self.state.clone(),
            registry.clone(),
            config,
            recorder.clone(),
        );
        let publisher = Publisher::new(self.broker.clone(), registry)
            .with_claim_check(ClaimCheck::new(self.state.clone(), KeyTtls::default()));
        Rig {
            consumer,
            recorder,
            publisher,
            subscription,
        }
    }

    fn consumer_config(
        &self,
        subscription: &str,
        topic: &str,
        ack_deadline: Duration,
        batch_size: usize,
    ) -> ConsumerConfig {
        let mut config = ConsumerConfig::new(
            SubscriptionConfig::new(subscription, topic).with_ack_deadline(ack_deadline),
        );
        config.max_wait = Duration::from_millis(100);
        config.batch_size = batch_size;
        config
    }

    /// Steps until `done` holds, summing the reports; fails after [`PATIENCE`].
    async fn drive(
        &self,
        consumer: &Consumer<Arc<Recorder>>,
        mut done: impl FnMut(&StepReport) -> bool,
    ) -> anyhow::Result<StepReport> {
        let started = Instant::now();
        let mut total = StepReport::default();
        while !done(&total) {
            ensure!(
                started.elapsed() < PATIENCE,
                "gave up after {PATIENCE:?} with {total:?}"
            );
            total += consumer.step().await?;
        }
        Ok(total)
    }

    /// Steps until the subscription has nothing left to finish, summing the reports.
    async fn drain(
        &self,
        consumer: &Consumer<Arc<Recorder>>,
        subscription: &str,
    ) -> anyhow::Result<StepReport> {
        let started = Instant::now();
        let mut total = StepReport::default();
        // Lag is read twice with a step between before it counts as drained: a message
        // the server has sent but the client has not buffered yet (RabbitMQ) is in
        // neither count for a moment.
        let mut drained_once = false;
        loop {
            let lag: u64 = self
                .broker
                .stats()
                .await?
                .iter()
                .filter(|stats| stats.name == subscription)
                .map(|stats| stats.lag())
                .sum();
            if lag == 0 && drained_once {
                return Ok(total);
            }
            drained_once = lag == 0;
            ensure!(
                started.elapsed() < PATIENCE,
                "{lag} messages left after {PATIENCE:?}, {total:?}"
            );
            total += consumer.step().await?;
        }
    }

    async fn ensure(&self, rig: &Rig) -> anyhow::Result<()> {
        self.broker.ensure_subscription(&rig.subscription).await?;
        Ok(())
    }

    async fn retries_back_off_then_succeed_once(&self) -> anyhow::Result<()> {
        let rig = self.rig("calendars", Duration::from_secs(30), 10).await;
        self.ensure(&rig).await?;
        let user = unique("user");
        rig.recorder.retry_below(2);
        let item = |id: &str| CalendarItem {
            id: id.into(),
            title: "standup".into(),
            ..CalendarItem::default()
        };
        rig.publisher
            .publish(&[
                office_envelope(&user, item("a")),
                office_envelope(&user, item("b")),
            ])
            .await?;
        let report = self
            .drive(&rig.consumer, |r| r.handled >= 2)
            .await
            .with_context(|| {
                let seen: Vec<(String, u32, u128)> = rig
                    .recorder
                    .seen()
                    .iter()
                    .map(|s| (s.item_id.clone(), s.retry_count, s.at.elapsed().as_millis()))
                    .collect();
                format!("seen (item, retry count, ms ago): {seen:?}")
            })?;
        ensure!(report.retried == 4, "expected 4 retries: {report:?}");
        ensure!(report.dead_lettered == 0, "{report:?}");
        let mut handled = rig.recorder.handled();
        handled.sort();
        ensure!(handled == ["a", "b"], "handled {handled:?}");
        let attempts: Vec<Seen> = rig
            .recorder
            .seen()
            .into_iter()
            .filter(|seen| seen.item_id == "a")
            .collect();
        let counts: Vec<u32> = attempts.iter().map(|seen| seen.retry_count).collect();
        ensure!(counts == [0, 1, 2], "retry counts {counts:?}");
        let gaps = [
            attempts[1].at - attempts[0].at,
            attempts[2].at - attempts[1].at,
        ];
        ensure!(
            gaps[0] >= Duration::from_millis(100) && gaps[1] >= Duration::from_millis(200),
            "retries came after {gaps:?}, the backoff is 100 ms then 200 ms"
        );
        Ok(())
    }

    async fn dead_letter_and_redrive(&self) -> anyhow::Result<()> {
        let rig = self.rig("emails", Duration::from_secs(30), 10).await;
        self.ensure(&rig).await?;
        let user = unique("user");
        let poison_id = unique("poison");
        rig.recorder.poison(&[&poison_id]);
        let email = |id: &str| Email {
            id: id.into(),
            subject: format!("subject {id}"),
            ..Email::default()
        };
        let poison = office_envelope(&user, email(&poison_id));
        rig.publisher
            .publish(&[poison.clone(), office_envelope(&user, email("ok"))])
            .await?;
        let report = self
            .drive(&rig.consumer, |r| r.handled + r.dead_lettered >= 2)
            .await?;
        ensure!(
            (report.handled, report.dead_lettered) == (1, 1),
            "{report:?}"
        );

        let dlq = DeadLetterQueue::new(self.broker.clone());
        let filter = DeadLetterFilter {
            topic: Some("emails".into()),
            ..DeadLetterFilter::default()
        };
        let letters: Vec<_> = dlq
            .list(&filter)
            .await?
            .into_iter()
            .filter(|entry| entry.letter.event_id.as_deref() == Some(poison.id.as_str()))
            .collect();
        ensure!(letters.len() == 1, "{} dead letters", letters.len());
        let all: Vec<String> = dlq.list(&filter).await?.into_iter().map(|e| e.id).collect();
        let (mut paged, mut cursor) = (Vec::new(), None::<String>);
        loop {
            let after = match cursor.as_deref().and_then(|c| c.rsplit_once('/')) {
                Some((topic, seq)) => Some((topic, seq.parse::<u64>()?)),
                None => None,
            };
            let page = dlq.page(&filter, after, 3).await?;
            ensure!(page.entries.len() <= 3, "a page of {}", page.entries.len());
            paged.extend(page.entries.into_iter().map(|e| e.id));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        ensure!(paged == all, "pages {paged:?} differ from the list {all:?}");
        let letter = &letters[0].letter;
        ensure!(letter.error_type == FailureKind::Permanent, "{letter:?}");
        ensure!(
            letter.error == format!("{poison_id} is poison"),
            "{letter:?}"
        );
        ensure!(
            letter.failed_by.subscription == rig.subscription.name,
            "{letter:?}"
        );
        let original = Envelope::from_json_slice(&letter.original_event())?;
        ensure!(original.id == poison.id, "the original bytes were not kept");

        rig.recorder.poison(&[]);
        let redriven = dlq
            .redrive(&DeadLetterFilter {
                id: Some(letters[0].id.clone()),
                ..DeadLetterFilter::default()
            })
            .await?;
        ensure!(redriven == 1, "redrove {redriven}");
        self.drive(&rig.consumer, |r| r.handled >= 1).await?;
        ensure!(
            rig.recorder.handled() == ["ok", poison_id.as_str()],
            "handled {:?}",
            rig.recorder.handled()
        );
        let last = rig
            .recorder
            .seen()
            .last()
            .cloned()
            .context("nothing seen")?;
        ensure!(
            last.retry_count == 0,
            "a redriven message starts again at 0"
        );
        let left = dlq.list(&filter).await?;
        ensure!(
            left.iter().all(|entry| entry.id != letters[0].id),
            "the redriven letter is still in the dead-letter topic"
        );
        Ok(())
    }

    /// A consumer on `emails.#` dead-lettering to `emails.errors`, as the mailer does on
    /// `email.#`: its pattern matches neither that topic nor `emails.dlq.v1`, so it is
    /// never handed a dead letter, and its letters stay for the dead-letter tools.
    async fn a_pattern_consumer_never_reads_dead_letters(&self) -> anyhow::Result<()> {
        let name = unique("conformance-emails-pattern");
        let config = self
            .consumer_config(&name, "emails.#", Duration::from_secs(30), 10)
            .with_dead_letter_topic("emails.errors")?;
        let mut rig = self.rig("emails", Duration::from_secs(30), 10).await;
        rig.subscription = config.subscription.clone();
        rig.consumer = Consumer::new(
            self.broker.clone(),
            self.state.clone(),
            Arc::new(fast_retry_registry()),
            config,
            rig.recorder.clone(),
        );
        self.ensure(&rig).await?;
        let user = unique("user");
        let (poison_id, ok_id) = (unique("poison"), unique("ok"));
        rig.recorder.poison(&[&poison_id]);
        let email = |id: &str| Email {
            id: id.into(),
            ..Email::default()
        };
        let poison = office_envelope(&user, email(&poison_id));
        rig.publisher
            .publish(&[poison.clone(), office_envelope(&user, email(&ok_id))])
            .await?;
        let mut report = self.drive(&rig.consumer, |r| r.dead_lettered >= 1).await?;
        report += self.drain(&rig.consumer, &rig.subscription.name).await?;
        ensure!(
            rig.recorder.handled().contains(&ok_id),
            "handled {:?}",
            rig.recorder.handled()
        );
        ensure!(
            report.dead_letters_skipped == 0 && report.dead_lettered == 1,
            "the pattern subscription was handed dead letters: {report:?}"
        );
        let letters = DeadLetterQueue::new(self.broker.clone())
            .with_topics(["emails.errors"])
            .list(&DeadLetterFilter::default())
            .await?;
        let mine: Vec<String> = letters
            .into_iter()
            .filter(|entry| entry.letter.event_id.as_deref() == Some(poison.id.as_str()))
            .map(|entry| entry.id)
            .collect();
        ensure!(
            mine.len() == 1 && mine[0].starts_with("emails.errors/"),
            "dead letters of the poisoned event: {mine:?}"
        );
        Ok(())
    }

    async fn dedupe_across_redeliveries(&self) -> anyhow::Result<()> {
        let deadline = Duration::from_millis(500);
        let rig = self.rig("contacts", deadline, 10).await;
        self.ensure(&rig).await?;
        let user = unique("user");
        let contact = Contact {
            id: "c1".into(),
            display_name: "Ada".into(),
            ..Contact::default()
        };
        let event = office_envelope(&user, contact.clone());
        rig.publisher.publish(std::slice::from_ref(&event)).await?;
        // Redelivery: fetched, never settled, the ack deadline passes. The consumer steps
        // until the broker delivered it again and it was handled, however long the broker
        // takes to notice the deadline (within PATIENCE).
        let lost = self
            .broker
            .fetch(&rig.subscription.name, 10, Duration::from_secs(5))
            .await?;
        ensure!(lost.len() == 1, "fetched {}", lost.len());
        self.drive(&rig.consumer, |r| r.handled >= 1).await?;
        // Replay: the same envelope again; duplicate publish: the same item version in a
        // new envelope.
        rig.publisher.publish(std::slice::from_ref(&event)).await?;
        let mut copy = event.clone();
        copy.id = uuid::Uuid::now_v7().to_string();
        rig.publisher.publish(&[copy]).await?;
        // An engine with publish dedupe (NATS) drops the replay before any consumer sees
        // it; the copy in a new envelope always arrives and must be recognised.
        let report = self.drain(&rig.consumer, &rig.subscription.name).await?;
        ensure!(report.duplicates >= 1, "no duplicate arrived: {report:?}");
        ensure!(report.handled == 0, "a duplicate was handled: {report:?}");
        ensure!(
            rig.recorder.handled() == ["c1"],
            "{:?}",
            rig.recorder.handled()
        );
        Ok(())
    }

    async fn claim_check(&self) -> anyhow::Result<()> {
        let rig = self.rig("todos", Duration::from_secs(30), 10).await;
        self.ensure(&rig).await?;
        let user = unique("user");
        let notes = "lorem ipsum ".repeat(5 * 1024 * 1024 / 12);
        let big = office_envelope(
            &user,
            Todo {
                id: "big".into(),
                title: "read the large report".into(),
                notes: notes.clone(),
                ..Todo::default()
            },
        );
        let report = rig.publisher.publish(std::slice::from_ref(&big)).await?;
        ensure!(report.published == 1, "{:?}", report.rejected);
        self.drive(&rig.consumer, |r| r.handled >= 1).await?;
        ensure!(
            rig.recorder.note_lengths() == [notes.len()],
            "the handler saw notes of {:?} bytes, not the {} sent",
            rig.recorder.note_lengths(),
            notes.len()
        );
        Ok(())
    }

    async fn restart_resumes_where_it_stopped(&self) -> anyhow::Result<()> {
        let rig = self.rig("task_documents", Duration::from_secs(30), 5).await;
        self.ensure(&rig).await?;
        let user = unique("user");
        let events: Vec<Envelope> = (0..20)
            .map(|i| {
                office_envelope(
                    &user,
                    Task {
                        id: format!("t{i}"),
                        title: format!("task {i}"),
                        ..Task::default()
                    },
                )
            })
            .collect();
        rig.publisher.publish(&events).await?;
        let first = self.drive(&rig.consumer, |r| r.handled >= 5).await?;
        let handled_before = first.handled;
        drop(rig.consumer);

        let recorder = Arc::new(Recorder::default());
        let restarted = Consumer::new(
            self.broker.clone(),
            self.state.clone(),
            Arc::new(fast_retry_registry()),
            self.consumer_config(
                &rig.subscription.name,
                "task_documents",
                Duration::from_secs(30),
                5,
            ),
            recorder.clone(),
        );
        let rest = self
            .drive(&restarted, |r| r.handled + handled_before >= 20)
            .await?;
        ensure!(rest.duplicates == 0, "{rest:?}");
        let mut all: Vec<String> = rig.recorder.handled();
        all.extend(recorder.handled());
        all.sort();
        let mut expected: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
        expected.sort();
        ensure!(all == expected, "handled {all:?}");
        Ok(())
    }

    async fn competing_consumers_handle_each_event_once(&self) -> anyhow::Result<()> {
        let first = self
            .rig("shipment_events", Duration::from_secs(30), 20)
            .await;
        self.ensure(&first).await?;
        let second_recorder = Arc::new(Recorder::default());
        let second = Consumer::new(
            self.broker.clone(),
            self.state.clone(),
            Arc::new(fast_retry_registry()),
            self.consumer_config(
                &first.subscription.name,
                "shipment_events",
                Duration::from_secs(30),
                20,
            ),
            second_recorder.clone(),
        );
        let user = unique("user");
        let events: Vec<Envelope> = (0..400)
            .map(|i| {
                office_envelope(
                    &user,
                    ShipmentUpdate {
                        id: format!("ups:{i}"),
                        carrier: "ups".into(),
                        tracking_number: i.to_string(),
                        status: "in_transit".into(),
                        ..ShipmentUpdate::default()
                    },
                )
            })
            .collect();
        first.publisher.publish(&events).await?;
        let total = || first.recorder.handled().len() + second_recorder.handled().len();
        let started = Instant::now();
        while total() < 400 {
            ensure!(started.elapsed() < PATIENCE, "handled {} of 400", total());
            let (a, b) = tokio::join!(first.consumer.step(), second.step());
            a?;
            b?;
        }
        let (mine, theirs) = (first.recorder.handled(), second_recorder.handled());
        ensure!(
            !mine.is_empty() && !theirs.is_empty(),
            "one consumer did all the work ({} and {})",
            mine.len(),
            theirs.len()
        );
        let mut all: Vec<String> = mine.into_iter().chain(theirs).collect();
        all.sort();
        all.dedup();
        ensure!(all.len() == 400, "{} distinct of 400", all.len());
        ensure!(total() == 400, "{} handled for 400 events", total());
        Ok(())
    }

    async fn per_partition_key_order(&self) -> anyhow::Result<()> {
        let rig = self.rig("llm_chats", Duration::from_secs(30), 7).await;
        self.ensure(&rig).await?;
        let users: Vec<String> = (0..3).map(|_| unique("user")).collect();
        let events: Vec<Envelope> = (0..90)
            .map(|i| {
                office_envelope(
                    &users[i % 3],
                    LlmChat {
                        id: format!("chat-{i:03}"),
                        title: format!("chat {i}"),
                        ..LlmChat::default()
                    },
                )
            })
            .collect();
        for chunk in events.chunks(10) {
            rig.publisher.publish(chunk).await?;
        }
        self.drive(&rig.consumer, |r| r.handled >= 90).await?;
        let mut per_user: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for seen in rig.recorder.seen() {
            per_user.entry(seen.user_id).or_default().push(seen.item_id);
        }
        for (user, ids) in per_user {
            let mut sorted = ids.clone();
            sorted.sort();
            ensure!(ids == sorted, "{user} saw its events out of order: {ids:?}");
        }
        Ok(())
    }
}
