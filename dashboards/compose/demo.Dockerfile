# The demo app service of docker-compose.yml: instrumented two-variant traffic with shadow (dashboards/traffic.py).
FROM python:3.11-slim
WORKDIR /src
COPY . /src
RUN pip install --no-cache-dir '.[demo,otlp]' pyyaml
CMD ["python", "-m", "dashboards.traffic", "--otlp", "http://collector:4317", "--loop"]
