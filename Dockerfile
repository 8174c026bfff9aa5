FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.lock .
RUN pip install --no-cache-dir "uv==0.13.9" && uv pip install --system --no-cache -r requirements.lock
COPY . .
RUN useradd --create-home pumptrack && chown -R pumptrack /app
USER pumptrack
EXPOSE 8000
