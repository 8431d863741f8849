//! [`DownBroker`]: a broker whose every call fails as `Unavailable`, for tests of what a
//! component does while the bus is down.

use std::time::Duration;

use async_trait::async_trait;

use crate::{
    Broker, BusError, BusErrorKind, Delivery, DeliveryTag, Message, SubscriptionConfig,
    SubscriptionStats, TopicStats,
};

/// A broker that is down: every call fails with [`BusErrorKind::Unavailable`].
#[derive(Debug, Clone, Copy, Default)]
pub struct DownBroker;

fn down() -> BusError {
    BusError::new(BusErrorKind::Unavailable, "broker down")
}

#[async_trait]
impl Broker for DownBroker {
    async fn publish(&self, _: &str, _: Vec<Message>) -> Result<(), BusError> {
        Err(down())
    }
    async fn ensure_subscription(&self, _: &SubscriptionConfig) -> Result<(), BusError> {
        Err(down())
    }
    async fn fetch(&self, _: &str, _: usize, _: Duration) -> Result<Vec<Delivery>, BusError> {
        Err(down())
    }
    async fn ack(&self, _: &str, _: &[DeliveryTag]) -> Result<(), BusError> {
        Err(down())
    }
    async fn nack(&self, _: &str, _: &[DeliveryTag], _: Duration) -> Result<(), BusError> {
        Err(down())
    }
    async fn release(&self, _: &str, _: &[DeliveryTag]) -> Result<(), BusError> {
        Err(down())
    }
    async fn browse(&self, _: &str, _: u64, _: usize) -> Result<Vec<(u64, Message)>, BusError> {
        Err(down())
    }
    async fn remove(&self, _: &str, _: &[u64]) -> Result<u64, BusError> {
        Err(down())
    }
    async fn topics(&self) -> Result<Vec<TopicStats>, BusError> {
        Err(down())
    }
    async fn ping(&self) -> Result<(), BusError> {
        Err(down())
    }
    async fn stats(&self) -> Result<Vec<SubscriptionStats>, BusError> {
        Err(down())
    }
}
