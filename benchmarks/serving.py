"""Requests/s and latency of `python -m tasks.serve`, per model, under a bounded load on
localhost; and the page filled in headless Chromium (the README's screenshot).

    python -m tasks.<task> export ...                   # each model into saved_models/<task>
    python benchmarks/serving.py --models saved_models  # the table
    python benchmarks/serving.py --models saved_models --screenshot docs/serving.png

For each model, `--clients` threads each send `--requests` predict requests one after the
other (TF Serving's row format, one text each, the model's default signature: tag, serve,
translate, generate), after 5 warm-up requests; the table gives requests/s over the run and
the p50 / p95 latency of one request. Only 127.0.0.1 is ever addressed, and every loop is
bounded in count. `start_server` and `fill_page` are also what tests/test_http_serving.py runs.
"""

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TEXTS = {  # one request's text for each kind of model
    "tagger": "John Smith flew from Paris to New York on Monday .",
    "classifier": "a gripping , beautifully acted and often very funny film",
    "translator": "ein mann in einem blauen hemd fährt mit dem fahrrad die straße hinunter .",
    "language_model": "the company said it expects",
}
# The server's process as the tests run it: JAX, kerasrnn and the task code unimportable.
BLOCKED = ("jax", "jaxlib", "kerasrnn", "tasks.task", "tasks.export", "tasks.tokenizers",
           "tasks.language_model", "tasks.tagger", "tasks.classification", "tasks.translator",
           "tasks.sentiment")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(models, *options, port=None, block=True, timeout=240):
    """`python -m tasks.serve --models MODELS OPTIONS...` on a free localhost port, in a new
    process (TensorFlow's default backend). Returns (process, port) once it answers /healthz;
    with `block`, the modules in BLOCKED cannot be imported there."""
    port = port or free_port()
    argv = ["--models", models, "--port", str(port), *options]
    code = ("import sys\n" + (f"for m in {BLOCKED!r}: sys.modules[m] = None\n" if block else "")
            + f"from tasks.serve import main\nmain({argv!r})\n")
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["PYTHONPATH"] = os.pathsep.join([ROOT, env.get("PYTHONPATH", "")])
    process = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}):\n"
                               f"{process.stdout.read()[-3000:]}")
        try:
            status, _ = request(port, "GET", "/healthz")
            if status == 200:
                return process, port
        except OSError:
            pass
        time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"the server did not answer within {timeout} s")


def stop_server(process):
    process.terminate()
    try:
        return process.communicate(timeout=30)[0]
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()[0]


def request(port, method, path, body=None, timeout=60):
    """One HTTP request to 127.0.0.1:`port`; `body` is sent as JSON (or as is if bytes).
    Returns (status, parsed JSON answer or the raw text)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
        connection.request(method, path, body=body,
                           headers={"Content-Type": "application/json"} if body else {})
        answer = connection.getresponse()
        text = answer.read().decode()
        try:
            return answer.status, json.loads(text)
        except json.JSONDecodeError:
            return answer.status, text
    finally:
        connection.close()


def load(port, model, text, clients, requests):
    """(requests/s, p50 ms, p95 ms) of `clients` threads × `requests` predict requests."""
    path = f"/v1/models/{model}:predict"
    body = {"instances": [text]}
    for _ in range(5):
        assert request(port, "POST", path, body)[0] == 200
    latencies, failures = [], []

    def client():
        for _ in range(requests):
            start = time.perf_counter()
            status, answer = request(port, "POST", path, body)
            latencies.append(time.perf_counter() - start)
            if status != 200:
                failures.append(answer)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{len(failures)} failed requests to {model}: {failures[0]}")
    latencies.sort()
    quantile = lambda q: 1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    return len(latencies) / elapsed, quantile(0.5), quantile(0.95)


def fill_page(port, screenshot=None, timeout=120):
    """Opens the page in headless Chromium (Debian's `chromium` and `chromium-driver`), submits
    every panel's example text and waits for each to render. Returns {model name: (kind,
    state, the panel's text)}; saves a full-page PNG to `screenshot` if given."""
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1200,1000"):
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    service = webdriver.ChromeService(executable_path="/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.get(f"http://127.0.0.1:{port}/")
        wait = WebDriverWait(driver, timeout)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "section.panel"))
        panels = driver.find_elements(By.CSS_SELECTOR, "section.panel")
        for panel in panels:
            panel.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(lambda d: all(p.get_attribute("data-state") in ("done", "error")
                                 for p in panels))
        if screenshot:  # the whole page, not only the window
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": 1200, "height": int(height), "deviceScaleFactor": 1, "mobile": False})
            driver.save_screenshot(screenshot)
        return {p.get_attribute("data-model"): (p.get_attribute("data-kind"),
                                                p.get_attribute("data-state"), p.text)
                for p in panels}
    finally:
        driver.quit()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="saved_models", help="a folder of exported models")
    p.add_argument("--clients", type=int, default=4, help="concurrent clients per model")
    p.add_argument("--requests", type=int, default=50, help="requests per client")
    p.add_argument("--screenshot", help="also save the filled page to this PNG")
    args = p.parse_args()
    process, port = start_server(args.models, block=False)
    try:
        models = request(port, "GET", "/v1/models")[1]["models"]
        print(f"{args.clients} clients x {args.requests} requests per model, one text each, "
              f"on 127.0.0.1 ({os.cpu_count()} cores)\n")
        print("| model | kind | signature | requests/s | p50 ms | p95 ms |")
        print("|---|---|---|---:|---:|---:|")
        for model in models:
            rate, p50, p95 = load(port, model["name"], TEXTS[model["kind"]], args.clients,
                                  args.requests)
            print(f"| {model['name']} | {model['kind']} | default | {rate:.1f} | {p50:.1f} | "
                  f"{p95:.1f} |", flush=True)
        if args.screenshot:
            for name, (kind, state, _) in fill_page(port, args.screenshot).items():
                print(f"page: {name} ({kind}) {state}")
    finally:
        stop_server(process)


if __name__ == "__main__":
    main()
