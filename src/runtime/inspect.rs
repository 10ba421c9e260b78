//! `inspect` of a container: Docker's JSON shape, from the record.

use std::path::Path;

use serde_json::{Value, json};

use super::container::{ContainerRecord, Status};
pub use super::types::RecordedMount;

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

/// The container as `docker inspect` prints it; `dir` is its directory.
pub fn container_json(c: &ContainerRecord, dir: &Path) -> Value {
    let status = c.current_status();
    let running = matches!(status, Status::Running | Status::Paused);
    let state = status.as_str();
    let exec = c.exec.as_ref();
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
        },
        "Image": format!("sha256:{}", c.image_id.hex()),
        "ImageName": c.image,
        "Config": {
            "Image": c.image,
            "Cmd": c.command,
            "Env": exec.map(|e| e.env.clone()).unwrap_or_default(),
            "WorkingDir": exec.map(|e| e.cwd.clone()).unwrap_or_default(),
            "User": exec.map(|e| e.user.clone()).unwrap_or_default(),
            "Labels": c.labels,
            "StopSignal": c.stop_signal.map_or_else(
                || "SIGTERM".to_string(),
                |n| nix::sys::signal::Signal::try_from(n)
                    .map_or_else(|_| n.to_string(), |s| s.as_str().to_string()),
            ),
            "StopTimeout": c.stop_timeout.unwrap_or(10),
        },
        "RestartCount": c.restart_count,
        "Mounts": c.mounts.iter().map(|m| json!({
            "Type": m.kind,
            "Source": m.source,
            "Destination": m.destination,
            "RW": m.rw,
        })).collect::<Vec<_>>(),
        "HostConfig": {
            "Privileged": exec.is_some_and(|e| e.privileged),
            "SecurityOpt": exec.map(|e| vec![format!("seccomp={}", e.seccomp)]).unwrap_or_default(),
            "UsernsMode": if c.keep_id.is_some() { "keep-id" } else { "" },
            "RestartPolicy": {
                "Name": c.restart.name(),
                "MaximumRetryCount": c.restart.max_retries(),
            },
            "AutoRemove": c.auto_remove,
            "NetworkMode": c.network,
            "PortBindings": ports_json(c),
        },
        "Driver": c.storage_driver.map(|d| d.name()),
        "GraphDriver": {
            "Name": c.storage_driver.map(|d| d.name()),
            "Data": { "UpperDir": dir.join("upper"), "WorkDir": dir.join("work") },
        },
        "LogPath": dir.join("ctr.log"),
        "NetworkSettings": {
            "Ports": ports_json(c),
            "Networks": networks_json(c),
        },
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
