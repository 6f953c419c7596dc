//! A hand-driven ingest stream that sends exactly the batches a test constructs.

use crate::*;
use picket_proto::v1 as pb;
use std::time::Duration;

/// A hand-driven ingest stream: sends exactly the batches a test constructs (for replays).
pub struct RawSensor {
    tx: tokio::sync::mpsc::Sender<pb::SensorMessage>,
    inbound: tonic::Streaming<pb::ControllerMessage>,
    pub sensor_id: String,
    pub epoch: u64,
    pub welcome: pb::Welcome,
    /// Directives that arrived while waiting for something else, oldest first.
    directives: std::collections::VecDeque<pb::Directive>,
}

impl RawSensor {
    /// Opens a stream and waits for the welcome.
    pub async fn connect(url: &str, token: &str, sensor_id: &str, epoch: u64) -> RawSensor {
        Self::try_connect(url, token, sensor_id, epoch)
            .await
            .unwrap()
    }

    /// Like [`RawSensor::connect`], returning the status if the controller refuses the stream.
    pub async fn try_connect(
        url: &str,
        token: &str,
        sensor_id: &str,
        epoch: u64,
    ) -> Result<RawSensor, tonic::Status> {
        Self::try_connect_on(channel(url, Some(token)).await, sensor_id, epoch).await
    }

    /// Like [`RawSensor::try_connect`], over an existing authenticated channel (TLS tests).
    pub async fn try_connect_on(
        svc: Authed,
        sensor_id: &str,
        epoch: u64,
    ) -> Result<RawSensor, tonic::Status> {
        let mut client = pb::ingest_client::IngestClient::new(svc);
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let hello = pb::Hello {
            sensor_id: sensor_id.into(),
            stream_epoch: epoch,
            version: "raw".into(),
            ..Default::default()
        };
        tx.send(pb::SensorMessage {
            msg: Some(pb::sensor_message::Msg::Hello(hello)),
        })
        .await
        .unwrap();
        let mut inbound = client
            .stream(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await?
            .into_inner();
        let welcome = loop {
            match inbound.message().await?.and_then(|m| m.msg) {
                Some(pb::controller_message::Msg::Welcome(w)) => break w,
                Some(_) => continue,
                None => panic!("stream ended before the welcome"),
            }
        };
        Ok(RawSensor {
            tx,
            inbound,
            sensor_id: sensor_id.into(),
            epoch,
            welcome,
            directives: Default::default(),
        })
    }

    /// A batch of `requests` calls to one endpoint.
    pub fn batch(&self, seq: u64, host: &str, requests: u64) -> pb::Batch {
        pb::Batch {
            sensor_id: self.sensor_id.clone(),
            stream_epoch: self.epoch,
            seq,
            endpoints: vec![pb::EndpointSummary {
                host: host.into(),
                method: "GET".into(),
                template: "/raw/{id}".into(),
                requests,
                statuses: vec![pb::StatusCount {
                    status: 200,
                    count: requests,
                }],
                first_seen_ms: 1,
                last_seen_ms: 2,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    async fn next(&mut self) -> pb::controller_message::Msg {
        let m = tokio::time::timeout(Duration::from_secs(30), self.inbound.message())
            .await
            .expect("no message from the controller within 30 s")
            .unwrap();
        m.and_then(|m| m.msg)
            .expect("the controller ended the stream")
    }

    /// Sends a batch and returns its ack (directives arriving meanwhile are kept).
    pub async fn send(&mut self, batch: pb::Batch) -> pb::Ack {
        self.tx
            .send(pb::SensorMessage {
                msg: Some(pb::sensor_message::Msg::Batch(batch)),
            })
            .await
            .unwrap();
        loop {
            match self.next().await {
                pb::controller_message::Msg::Ack(a) => return a,
                pb::controller_message::Msg::Directive(d) => self.directives.push_back(d),
                pb::controller_message::Msg::Welcome(_) => panic!("second welcome"),
            }
        }
    }

    /// Sends a batch and returns its ack, or the status the controller ended the stream with.
    pub async fn try_send(&mut self, batch: pb::Batch) -> Result<pb::Ack, tonic::Status> {
        let msg = pb::SensorMessage {
            msg: Some(pb::sensor_message::Msg::Batch(batch)),
        };
        if self.tx.send(msg).await.is_err() {
            return Err(self.ended(Duration::from_secs(30)).await);
        }
        loop {
            let m = tokio::time::timeout(Duration::from_secs(30), self.inbound.message())
                .await
                .expect("no message from the controller within 30 s")?;
            match m.and_then(|m| m.msg) {
                Some(pb::controller_message::Msg::Ack(a)) => return Ok(a),
                Some(pb::controller_message::Msg::Directive(d)) => self.directives.push_back(d),
                Some(pb::controller_message::Msg::Welcome(_)) => panic!("second welcome"),
                None => return Err(tonic::Status::cancelled("the controller ended the stream")),
            }
        }
    }

    /// Waits (at most `timeout`) for the controller to end the stream; returns its status
    /// (`OK` for a clean end). Panics if the stream is still open after `timeout`.
    pub async fn ended(&mut self, timeout: Duration) -> tonic::Status {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.inbound.message()).await {
                Err(_) => panic!("the stream is still open after {timeout:?}"),
                Ok(Err(status)) => return status,
                Ok(Ok(None)) => return tonic::Status::ok("stream ended"),
                Ok(Ok(Some(_))) => continue,
            }
        }
    }

    /// The next analysis-state directive (one that already arrived, or the next to arrive);
    /// spec-template directives (`templates_set`) are skipped.
    pub async fn directive(&mut self) -> pb::Directive {
        while let Some(d) = self.directives.pop_front() {
            if !d.templates_set {
                return d;
            }
        }
        loop {
            if let pb::controller_message::Msg::Directive(d) = self.next().await
                && !d.templates_set
            {
                return d;
            }
        }
    }
}

pub async fn usage(url: &str, token: &str) -> pb::UsageReport {
    let mut c = pb::usage_client::UsageClient::new(channel(url, Some(token)).await);
    c.get_usage(pb::GetUsageRequest {})
        .await
        .unwrap()
        .into_inner()
}
