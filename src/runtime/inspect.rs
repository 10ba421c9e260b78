//! `inspect` of a container: Docker's JSON shape, from its record and spec.

use std::path::Path;

use serde_json::{Value, json};

use super::container::{ContainerRecord, Status};
use super::mounts::{Mount, MountKind};
use super::spec::ContainerSpec;

fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    // Docker's zero time for "never".
    t.map_or_else(|| "0001-01-01T00:00:00Z".to_string(), |t| t.to_rfc3339())
}

/// Docker's port map: `{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}`.
fn ports_json(c: &ContainerRecord) -> Value {
    let mut m = serde_json::Map::new();
    for p in &c.ports {
        let key = format!("{}/{}", p.container_port, p.proto.as_str());
        let entry = json!({
            "HostIp": p.host_ip.map_or_else(|| "0.0.0.0".to_string(), |i| i.to_string()),
            "HostPort": p.host_port.to_string(),
        });
        match m.get_mut(&key) {
            Some(Value::Array(a)) => a.push(entry),
            _ => {
                m.insert(key, json!([entry]));
            }
        }
    }
    Value::Object(m)
}

/// The container as `docker inspect` prints it, from its record and its
/// spec (None for a container made by a burrow too old to save one); `dir`
/// is its directory.
pub fn container_json(c: &ContainerRecord, spec: Option<&ContainerSpec>, dir: &Path) -> Value {
    let status = c.current_status();
    let running = matches!(status, Status::Running | Status::Paused);
    let state = status.as_str();
    let confinement = spec.map(|s| &s.confinement);
    json!({
        "Id": c.id,
        "Name": c.name,
        "Created": c.created.to_rfc3339(),
        "Path": c.command.first(),
        "Args": c.command.get(1..).unwrap_or_default(),
        "State": {
            "Status": state,
            "Running": running,
            "Paused": status == Status::Paused,
            "Restarting": status == Status::Restarting,
            "Dead": false,
            "Pid": if running { c.pid.unwrap_or(0) } else { 0 },
            "ExitCode": c.exit_code.unwrap_or(if status == Status::Exited { -1 } else { 0 }),
            "StartedAt": time(c.started),
            "FinishedAt": time(c.finished),
            "Health": super::health::inspect_state(c),
        },
        "Image": format!("sha256:{}", c.image_id.hex()),
        "ImageName": c.image,
        "Config": {
            "Image": c.image,
            "Cmd": c.command,
            "Env": spec.map(|s| s.env.clone()).unwrap_or_default(),
            "WorkingDir": spec.map(|s| s.cwd.clone()).unwrap_or_default(),
            "User": spec.map(|s| s.user.clone()).unwrap_or_default(),
            "Labels": c.labels,
            "StopSignal": c.stop_signal.map_or_else(
                || "SIGTERM".to_string(),
                |n| nix::sys::signal::Signal::try_from(n)
                    .map_or_else(|_| n.to_string(), |s| s.as_str().to_string()),
            ),
            "StopTimeout": c.stop_timeout.unwrap_or(10),
            "Healthcheck": spec.and_then(|s| s.health.as_ref()).map(|h| h.docker_json()),
            "HealthcheckOnFailureAction": spec
                .and_then(|s| s.health.as_ref())
                .map_or("none", |h| h.on_failure.as_str()),
        },
        "RestartCount": c.restart_count,
        "Mounts": spec.map(|s| s.mounts.iter().map(mount_json).collect::<Vec<_>>()).unwrap_or_default(),
        "HostConfig": {
            "Privileged": confinement.is_some_and(|e| e.privileged),
            "SecurityOpt": confinement.map(|e| vec![format!("seccomp={}", e.seccomp)]).unwrap_or_default(),
            "UsernsMode": if spec.is_some_and(|s| s.keep_id.is_some()) { "keep-id" } else { "" },
            "RestartPolicy": {
                "Name": c.restart.name(),
                "MaximumRetryCount": c.restart.max_retries(),
            },
            "AutoRemove": c.auto_remove,
            "NetworkMode": c.network,
            "PortBindings": ports_json(c),
        },
        "Driver": spec.map(|s| s.driver.name()),
        "GraphDriver": {
            "Name": spec.map(|s| s.driver.name()),
            "Data": { "UpperDir": dir.join("upper"), "WorkDir": dir.join("work") },
        },
        "LogPath": dir.join("ctr.log"),
        "NetworkSettings": {
            "Ports": ports_json(c),
            "Networks": networks_json(c),
        },
    })
}

/// A mount as Docker shows it.
fn mount_json(m: &Mount) -> Value {
    let (kind, source) = match &m.kind {
        MountKind::Bind { source, .. } => ("bind", source.display().to_string()),
        MountKind::Tmpfs { .. } => ("tmpfs", "tmpfs".to_string()),
        MountKind::Volume(v) => {
            let source = match &v.source {
                Some(super::mounts::VolumeSource::Dir(p)) => p.display().to_string(),
                Some(super::mounts::VolumeSource::Bind { device, .. }) => {
                    device.display().to_string()
                }
                Some(super::mounts::VolumeSource::Tmpfs(_)) => "tmpfs".to_string(),
                None => String::new(),
            };
            return json!({
                "Type": "volume",
                "Name": v.name(),
                "Source": source,
                "Destination": m.destination,
                "Driver": "local",
                "RW": !m.readonly,
            });
        }
    };
    json!({
        "Type": kind,
        "Source": source,
        "Destination": m.destination,
        "RW": !m.readonly,
    })
}

/// `NetworkSettings.Networks` as Docker shows it: per user network, the
/// container's address, prefix, aliases and interface.
fn networks_json(c: &ContainerRecord) -> Value {
    let mut map = serde_json::Map::new();
    for a in &c.networks {
        map.insert(
            a.network.clone(),
            json!({
                "NetworkID": a.network_id,
                "IPAddress": a.ip.to_string(),
                "IPPrefixLen": a.prefix,
                "Aliases": a.aliases,
                "InterfaceName": a.ifname,
            }),
        );
    }
    Value::Object(map)
}
