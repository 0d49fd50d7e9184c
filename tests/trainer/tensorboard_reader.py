"""What TensorBoard's own reader (the PyPI `tensorboard` package) sees of wr-train's event files, for
tests/trainer/tensorboard_test.cpp. Prints one line per item, tab-separated, values as Python's repr of the float32
TensorBoard stored:

  scalars DIR          tag, step, value: every scalar of the folder DIR as event_accumulator.EventAccumulator
                       keeps it, in its order
  tensors DIR          the same through plugin_event_accumulator, the loader `tensorboard --logdir DIR
                       --load_fast=false` serves from (scalars migrated to tensors by the scalars plugin's rules)
  live DIR_A DIR_B     `scalars`, for a TensorBoard that read DIR_A's files and then sees the folder become DIR_B
                       (a resumed run rewrote its events file while TensorBoard was running)
  server DIR_A [DIR_B] what TensorBoard's Rust data server (tensorboard-data-server: what `tensorboard --logdir`
                       serves from by default) shows of DIR_A, or, watching it, once it became DIR_B
  events FILE          kind, step, tag, value of every event in one file as written (event_file_loader's
                       LegacyEventFileLoader; reads up to a record cut short, as TensorBoard does)

Exits 3 with a message on stderr when the package is missing (the test then skips).
"""
import os
import shutil
import sys
import tempfile

try:
    from tensorboard.backend.event_processing import event_file_loader, plugin_event_accumulator
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util
except ImportError as e:
    print(f"no tensorboard package in {sys.prefix} ({e}; scripts/setup installs it from scripts/requirements.txt)",
          file=sys.stderr)
    sys.exit(3)


def print_scalars(acc):
    for tag in sorted(acc.Tags()["scalars"]):
        for s in acc.Scalars(tag):
            print(f"{tag}\t{s.step}\t{s.value!r}")


def accumulator(path):
    # size_guidance 0: keep every value (the default samples 10000 per tag); purge_orphaned_data is the default
    return EventAccumulator(path, size_guidance={"scalars": 0})


def copy_files(src, dst):
    for name in sorted(os.listdir(src)):
        shutil.copyfile(os.path.join(src, name), os.path.join(dst, name))  # an existing file keeps its inode


def become(d, src):
    """Makes folder d hold src's files: files rewritten in place (as an emptied file is), new ones added, the
    rest removed."""
    for name in set(os.listdir(d)) - set(os.listdir(src)):
        os.remove(os.path.join(d, name))
    copy_files(src, d)


def server_view(dir_a, dir_b):
    import time
    from tensorboard import context
    from tensorboard.data import server_ingester
    from tensorboard.util import grpc_util
    try:
        binary = server_ingester.get_server_binary()
    except server_ingester.NoDataServerError as e:
        print(f"no TensorBoard data server ({e})", file=sys.stderr)
        sys.exit(3)

    with tempfile.TemporaryDirectory() as d:
        copy_files(dir_a, d)
        ingester = server_ingester.SubprocessServerDataIngester(
            binary, d, reload_interval=1, channel_creds_type=grpc_util.ChannelCredsType.LOCAL,
            samples_per_plugin={"scalars": 0})
        ingester.start()
        provider, ctx = ingester.data_provider, context.RequestContext()

        def view():
            data = provider.read_scalars(ctx, experiment_id="", plugin_name="scalars", downsample=10**9)
            return [(tag, p.step, p.value) for run in sorted(data) for tag in sorted(data[run]) for p in data[run][tag]]

        def settled(unlike):
            """The view once it differs from `unlike` and has not changed over 3 s (it reloads every second)."""
            last, same_since, start = None, None, time.time()
            while time.time() - start < 120:
                v = view()
                if v != last:
                    last, same_since = v, time.time()
                elif v and v != unlike and time.time() - same_since >= 3:
                    return v
                time.sleep(0.25)
            return last

        v = settled(None)
        if dir_b:
            become(d, dir_b)
            v = settled(v)
        for tag, step, value in v:
            print(f"{tag}\t{step}\t{value!r}")


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "scalars":
        acc = accumulator(args[0])
        acc.Reload()
        print_scalars(acc)
    elif mode == "tensors":
        acc = plugin_event_accumulator.EventAccumulator(args[0], size_guidance={"tensors": 0})
        acc.Reload()
        for tag in sorted(acc.Tags()["tensors"]):
            for t in acc.Tensors(tag):
                print(f"{tag}\t{t.step}\t{float(tensor_util.make_ndarray(t.tensor_proto).item())!r}")
    elif mode == "live":
        with tempfile.TemporaryDirectory() as d:
            copy_files(args[0], d)
            acc = accumulator(d)
            acc.Reload()
            become(d, args[1])
            acc.Reload()
            print_scalars(acc)
    elif mode == "server":
        server_view(args[0], args[1] if len(args) > 1 else None)
    elif mode == "events":
        for e in event_file_loader.LegacyEventFileLoader(args[0]).Load():
            if e.HasField("file_version"):
                print(f"file_version\t{e.step}\t{e.file_version}\t")
            elif e.HasField("session_log"):
                print(f"session_log\t{e.step}\t{e.session_log.status}\t")
            elif e.HasField("summary"):
                for v in e.summary.value:
                    print(f"scalar\t{e.step}\t{v.tag}\t{v.simple_value!r}")
            else:
                print(f"other\t{e.step}\t\t")
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
