//! Builds: a Dockerfile into an image (see crate::build), run where it
//! must be: base images found or pulled first, then the steps as root of
//! the user namespace, in a mount namespace of the build's own, with the
//! default confinement for RUN steps.

use serde::{Deserialize, Serialize};

use super::Engine;
use super::error::{EngineError, RequestError};
use super::pull::{ObserverFactory, PullPolicy, RegistryOptions, image_as_policy};
use crate::build::{self, BuildEnv, BuildError, BuildHost, BuildOptions};

use crate::image::find_image;
use crate::runtime::NetworkMode;
use crate::runtime::rootfs::Driver;
use crate::storage::{ImageRecord, Store};

/// A build as a front end asks for it.
pub struct BuildRequest {
    pub options: BuildOptions,
    /// The platform asked for (`OS/ARCH`): only this machine's.
    pub platform: Option<String>,
    /// When base images are pulled.
    pub pull: PullPolicy,
    pub registry: RegistryOptions,
    /// No progress lines, and the RUN steps' output goes nowhere.
    pub quiet: bool,
}

/// Why a build failed: its message, and the exit status of the RUN step
/// when that was the cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct BuildFailure {
    pub message: String,
    pub run_status: Option<i32>,
}

impl From<&BuildError> for BuildFailure {
    fn from(e: &BuildError) -> BuildFailure {
        BuildFailure {
            message: e.to_string(),
            run_status: e.exit_code(),
        }
    }
}

/// Base images, found in the store (pulled before), and progress lines.
struct Host<'a> {
    store: Store,
    say: Option<&'a mut dyn FnMut(&str)>,
}

impl BuildHost for Host<'_> {
    fn base_image(&mut self, name: &str) -> Result<ImageRecord, String> {
        find_image(&self.store, name).map_err(|e| e.to_string())
    }

    fn say(&mut self, line: &str) {
        if let Some(say) = self.say.as_mut() {
            say(line);
        }
    }
}

/// The network RUN steps use: pasta (slirp4netns when pasta is not
/// installed), slirp4netns, host or none.
fn step_network(network: &NetworkMode) -> Result<NetworkMode, RequestError> {
    Ok(match network {
        NetworkMode::Container(c) => {
            return Err(RequestError::Invalid(format!(
                "--network container:{c}: build steps use pasta, slirp4netns, host or none"
            )));
        }
        NetworkMode::Bridge(atts) => {
            let names: Vec<&str> = atts.iter().map(|a| a.network.as_str()).collect();
            return Err(RequestError::Invalid(format!(
                "--network {}: build steps use pasta, slirp4netns, host or none",
                names.join(",")
            )));
        }
        NetworkMode::Pasta(o)
            if o.is_empty() && crate::userns::find_host_program("pasta").is_none() =>
        {
            NetworkMode::Slirp4netns(Vec::new())
        }
        n => n.clone(),
    })
}

impl Engine {
    /// Build `request`'s Dockerfile and record the image, named as its
    /// tags say. Base images are pulled as its policy says (`pulls`
    /// observes each pull); `say` gets the progress lines (none when
    /// quiet). A failed RUN step's status is the error's exit code.
    pub fn build(
        &self,
        mut request: BuildRequest,
        pulls: ObserverFactory<'_>,
        say: &mut dyn FnMut(&str),
    ) -> Result<ImageRecord, EngineError> {
        let host_platform = format!("linux/{}", crate::image::write::host_architecture());
        if let Some(p) = &request.platform
            && p != &host_platform
        {
            return Err(RequestError::Invalid(format!(
                "--platform {p}: this machine builds {host_platform} only (no emulation)"
            ))
            .into());
        }
        request.options.network = step_network(&request.options.network)?;
        let store = self.store()?;
        // Base images first, each found or pulled in a process of its own.
        let needed = build::images_needed(&request.options).map_err(|e| BuildFailure::from(&e))?;
        for image in &needed {
            image_as_policy(
                self,
                &store,
                image,
                request.pull,
                None,
                &request.registry,
                pulls,
            )?;
        }
        let driver = self.choose_driver(false)?;
        if driver == Driver::Vfs {
            return Err(RequestError::Missing(
                "build needs the overlay or fuse-overlayfs storage driver (each step's changes are read from its overlay): install fuse-overlayfs".into(),
            )
            .into());
        }
        let caps = crate::confine::CapSet::default_set();
        let seccomp = crate::confine::prepare_cached(
            &crate::confine::SeccompMode::Default,
            &caps,
            &self.paths.runroot.join("seccomp"),
        )?;
        let confine = crate::runtime::spec::Confinement {
            caps,
            seccomp,
            privileged: false,
        };
        let (work, _work_lock) = build::work_dir(&store.root().join("build-tmp"))?;
        let quiet = request.quiet;
        let answer: Result<ImageRecord, BuildFailure> = self.in_userns(|ns| {
            // Stage views for COPY --from are mounted in a mount namespace
            // of the build's own; stdin is the Dockerfile's or nobody's.
            crate::runtime::process::private_mount_namespace().map_err(|e| BuildFailure {
                message: e.to_string(),
                run_status: None,
            })?;
            if let Ok(null) = std::fs::File::open("/dev/null") {
                // SAFETY: dup2 onto stdin: RUN steps must not read the user's.
                unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 0) };
            }
            let env = BuildEnv {
                store: &store,
                unpack: ns.unpack_options(self.config.storage.ignore_chown_errors),
                driver,
                id_counts: (ns.map.uid_count(), ns.map.gid_count()),
                confine: confine.clone(),
                work: work.clone(),
            };
            let mut host = Host {
                store: store.clone(),
                say: (!quiet).then_some(&mut *say),
            };
            // Quiet: the RUN steps' output goes nowhere.
            let saved = quiet.then(silence_stdio).flatten();
            let result = build::build(&env, &request.options, &mut host);
            if let Some(saved) = saved {
                restore_stdio(saved);
            }
            let _ = build::remove_work_dir(&work);
            result.map_err(|e| BuildFailure::from(&e))
        })?;
        let image = answer?;
        self.emit(&crate::events::Event::image(
            crate::events::ImageAction::Build,
            &image.id.to_string(),
            image.names.first().map_or("", String::as_str),
        ));
        Ok(image)
    }
}

/// Point stdout and stderr at /dev/null; the saved originals.
fn silence_stdio() -> Option<(i32, i32)> {
    let null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .ok()?;
    // SAFETY: dup/dup2 of the standard descriptors; restored below.
    unsafe {
        let (out, err) = (libc::dup(1), libc::dup(2));
        if out < 0 || err < 0 {
            return None;
        }
        libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 1);
        libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 2);
        Some((out, err))
    }
}

fn restore_stdio((out, err): (i32, i32)) {
    // SAFETY: putting back the descriptors saved by silence_stdio.
    unsafe {
        libc::dup2(out, 1);
        libc::dup2(err, 2);
        libc::close(out);
        libc::close(err);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_refuse_container_and_user_networks() {
        let mode = NetworkMode::parse("container:web").unwrap();
        let e = step_network(&mode).unwrap_err().to_string();
        assert!(
            e.starts_with("--network container:web: build steps use pasta"),
            "{e}"
        );
        assert_eq!(step_network(&NetworkMode::None).unwrap(), NetworkMode::None);
    }
}
