FROM python:3.11-slim
WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir -e . && useradd --create-home autopay && chown -R autopay /app
USER autopay
EXPOSE 5000 8402 8403 8899
CMD ["autopay", "--help"]
