"""Runs llama.cpp's HTTP server (PyPI `xllamacpp`) on 127.0.0.1:PORT with the GGUF model at
MODEL_PATH until SIGTERM: a real OpenAI-compatible server (/v1/chat/completions, /v1/models,
/health) for docent's tests. Usage: llm-server.py PORT MODEL_PATH"""

import signal
import sys
import threading

import xllamacpp

port, model_path = int(sys.argv[1]), sys.argv[2]
params = xllamacpp.CommonParams()
params.model.path = model_path
params.hostnames = ["127.0.0.1"]
params.port = port
params.n_ctx = 2048
params.n_parallel = 2
params.cpuparams.n_threads = 2
server = xllamacpp.Server(params)

stopped = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stopped.set())
signal.signal(signal.SIGINT, lambda *_: stopped.set())
stopped.wait()
del server
