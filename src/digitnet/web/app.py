"""The ``digitnet serve`` web application: draw a digit and watch the network read it.

One static page (``static/index.html``: plain HTML, CSS and JavaScript, nothing fetched from the
web) and a small JSON API over one :class:`~digitnet.model.Model`:

``GET /``
    The page: a drawing canvas, what the network sees, the output probabilities and the hidden
    units; a second tab with random test digits and the model card.
``POST /api/predict``
    Read one image: JSON ``{"pixels": [...], "width": W, "height": H}`` (row-major grayscale in
    [0, 1], ink bright on black as in MNIST), a raw ``image/png`` or ``image/jpeg`` body, or a
    ``multipart/form-data`` upload with the PNG or JPEG in the field ``file``. The image goes through :func:`digitnet.preprocess.prepare`,
    the same path as ``digitnet predict``.
``GET /api/model``, ``GET /api/weights``, ``GET /api/samples``, ``GET /healthz``
    The model card, the first layer's weight images, random test digits with predictions, and a
    liveness probe. The OpenAPI schema is at ``/openapi.json``.

Safety: :func:`serve` binds 127.0.0.1 unless told otherwise; request bodies over
:data:`MAX_BODY_BYTES` get 413 before they are read; images over 1024x1024, non-finite or
out-of-range values, wrong lengths and anything that is not a PNG or JPEG get a 4xx JSON error
``{"error": "..."}`` naming the problem. Nothing in a request is ever used as a path or unpickled,
and no CORS headers are sent unless ``allow_origins`` asks for them.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import socket
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Annotated, Any, NamedTuple

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from digitnet import __version__, preprocess
from digitnet.architecture import activation_and_output, describe
from digitnet.data import Dataset
from digitnet.model import Model

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20  # 1 MiB: a 1024x1024 PNG of a digit, or ~200k JSON pixel values
MAX_SIDE = 1024  # largest accepted image width or height
MAX_SAMPLES = 64  # most test digits one /api/samples call returns
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"  # start of image, then the first marker

DEFAULT_TEST_COUNT = 297  # of scikit-learn's 1797 digits, held out as the page's test digits
DEFAULT_SETTINGS: dict[str, Any] = {
    "hidden_layer_sizes": (256,),
    "activation": "relu",
    "output": "softmax",
    "solver": "adam",
    "learning_rate": 3e-3,
    "batch_size": 64,
    "max_iter": 60,
    "lam": 0.1,
    "schedule": "cosine",
    "dropout": 0.2,
}
"""``train.train``'s settings for the model served when none is given. Chosen by
``benchmarks/web_default_model.py`` on validation splits of the 1500 training digits (never the
297 test digits), among configurations that train in a few seconds: the best validation accuracy
(0.982 over 5 seeds, against the course's 64-25-10 sigmoid network's 0.973), the faster of the two
that tied."""


# --- request and response shapes (they make the OpenAPI schema) ---------------------------------

# strict: JSON true or "0.5" is not a pixel; allow_inf_nan=False: Python's json (and pydantic's
# parser) accept NaN, Infinity and 1e400, which must be refused, not fed to the network.
Pixel = Annotated[float, Field(ge=0, le=1, strict=True, allow_inf_nan=False)]


class PixelImage(BaseModel):
    """A grayscale image as JSON: row-major values in [0, 1], ink bright (MNIST style)."""

    model_config = ConfigDict(extra="forbid")

    pixels: list[Pixel] = Field(
        min_length=1,
        max_length=MAX_SIDE * MAX_SIDE,
        description="height * width values in [0, 1], row by row; ink is bright, paper is 0.",
    )
    width: int = Field(ge=1, le=MAX_SIDE, strict=True)
    height: int = Field(ge=1, le=MAX_SIDE, strict=True)

    @model_validator(mode="after")
    def _pixels_fill_the_image(self) -> PixelImage:
        if len(self.pixels) != self.width * self.height:
            raise ValueError(
                f"pixels has {len(self.pixels)} values, but a {self.width}x{self.height} image "
                f"needs width * height = {self.width * self.height}"
            )
        return self


class Prediction(BaseModel):
    label: int | str = Field(description="The most probable class.")
    probabilities: dict[str, float] = Field(
        description="Probability of each class (the output units normalized to sum to 1), "
        "keyed by the class label, in the model's output order."
    )
    outputs: list[float] = Field(
        description="Each output unit's value (its sigmoid, or the softmax), in class order."
    )
    hidden: list[list[float]] = Field(description="Activations of each hidden layer, in order.")
    input: list[list[float]] = Field(
        description="What the network sees: the preprocessed image, upright, height rows of width."
    )


class ModelCard(BaseModel):
    layer_sizes: list[int]
    activation: str = Field(description="Hidden units: sigmoid, tanh, relu or leaky_relu.")
    output: str = Field(description="Output units: sigmoid (one per class) or softmax.")
    architecture: str = Field(description='In words, e.g. "64-25-10, relu hidden units, ..."')
    n_params: int
    classes: list[int | str]
    image_shape: list[int] = Field(description="(height, width) of one input image.")
    pixel_order: str | None = Field(
        description='"C": rows unrolled row-major, "F": column-major, null: unknown.'
    )
    dtype: str
    note: str = Field(description="How this model came to be served, e.g. trained at start-up.")
    info: dict[str, Any] = Field(description="The model's facts about its training.")
    history: dict[str, list[float | None]] = Field(
        description="Training history columns (cost, ...), thinned to at most 200 points each."
    )
    test_data: str | None = Field(description="Name of the test digits, if any.")
    test_count: int | None = Field(description="How many test digits there are.")
    test_accuracy: float | None = Field(description="Accuracy on all of those test digits.")
    digitnet_version: str


class Weights(BaseModel):
    image_shape: list[int]
    units: list[list[float]] = Field(
        description="One image per first-layer hidden unit: its input weights, upright and "
        "row-major, divided by the unit's largest |weight| so they lie in [-1, 1]."
    )


class Sample(BaseModel):
    index: int = Field(description="Row of the test data.")
    label: int | str = Field(description="The true label.")
    predicted: int | str
    probability: float = Field(description="Probability of the predicted class.")
    image: list[list[float]] = Field(description="The digit as the network reads it, upright.")


class Samples(BaseModel):
    test_data: str | None
    samples: list[Sample]


class Health(BaseModel):
    status: str


class ErrorBody(BaseModel):
    error: str = Field(description="What was wrong with the request, in words.")
    detail: list[dict[str, Any]] | None = Field(
        default=None, description="For validation errors: where and what, at most 20 entries."
    )


class ApiError(Exception):
    """A request refused with ``status`` and a message for the user."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorBody, "description": f"Request body over {MAX_BODY_BYTES} bytes."},
    415: {"model": ErrorBody, "description": "Not JSON, PNG, JPEG or a multipart upload."},
    422: {"model": ErrorBody, "description": "The image is invalid; the error says why."},
}


# --- plain helpers -------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """NumPy scalars, tuples and non-finite floats -> what strict JSON can hold."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; "unknown" is the honest reading
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _rounded(a: np.ndarray, decimals: int = 4) -> list:
    """An array as nested lists, rounded: the page needs no more, and JSON stays small."""
    return np.round(np.asarray(a, dtype=np.float64), decimals).tolist()


def _thin(column: np.ndarray, most: int = 200) -> list[float | None]:
    """At most ``most`` evenly spaced points of a history column, always keeping the last."""
    column = np.asarray(column, dtype=np.float64).ravel()
    if len(column) > most:
        column = column[np.unique(np.linspace(0, len(column) - 1, most).round().astype(int))]
    return _plain(column)


def _decode_image(data: bytes) -> np.ndarray:
    """PNG or JPEG bytes -> (h, w) grayscale in [0, 1], or :class:`ApiError` saying what is wrong.

    The format is told by the file's signature, not by what the client claims it is.
    """
    if data.startswith(PNG_SIGNATURE):
        kind = "PNG"
    elif data.startswith(JPEG_SIGNATURE):
        kind = "JPEG"
    else:
        raise ApiError(422, "the upload is not a PNG or JPEG image (it lacks their signatures)")
    try:
        return preprocess.read_image(data, max_side=MAX_SIDE, formats=[kind])
    except preprocess.ImageError as err:
        raise ApiError(422, f"the {kind} could not be read: {err}") from err


# --- the model and the data it is shown with ------------------------------------------------------


class DefaultModel(NamedTuple):
    """What :func:`default_model` returns."""

    model: Model
    test_digits: Dataset
    note: str


def default_split(random_state: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``(fit, test)`` of scikit-learn's 1797 digits: the default model's 1500 training
    digits and the 297 test digits the page shows."""
    order = np.random.default_rng(random_state).permutation(1797)
    return order[DEFAULT_TEST_COUNT:], order[:DEFAULT_TEST_COUNT]


def default_model(random_state: int = 0) -> DefaultModel:
    """Train the model served when none is given (``DEFAULT_SETTINGS``) on scikit-learn's digits.

    The digits ship with scikit-learn, so this works anywhere, offline, in a few seconds. A sixth
    of them (297) are held out as the test digits the page shows; the note says what the model is.

    Parameters
    ----------
    random_state : int
        Seed of the split and of the weight initialization.

    Returns
    -------
    DefaultModel
        ``(model, test_digits, note)``; ``note`` says on the page how the model came about.
    """
    from digitnet.data import load_digits
    from digitnet.train import train

    digits = load_digits()
    fit, test = default_split(random_state)
    model = train(
        digits.X[fit],
        digits.y[fit],
        **DEFAULT_SETTINGS,
        random_state=random_state,
        image_shape=digits.image_shape,
        pixel_order=digits.pixel_order,
    )
    test_digits = Dataset(
        digits.X[test],
        digits.y[test],
        digits.image_shape,
        digits.pixel_order,
        f"sklearn digits, {DEFAULT_TEST_COUNT} held out",
    )
    return DefaultModel(model, test_digits, default_note(model))


def default_note(model: Model) -> str:
    """What the page says about the model trained at start-up."""
    info = model.info
    solver = info["solver"]
    if info.get("learning_rate") is not None:
        solver += f" (learning rate {info['learning_rate']:g}"
        solver += f", {info['schedule']} schedule)" if info.get("schedule") else ")"
    extras = [f"dropout {info['dropout']:g}"] if info.get("dropout") else []
    extras += ["augmented digits"] if info.get("augment") else []
    return (
        f"No model was given, so this one was trained at start-up: a {describe(model)} network, "
        f"{solver}, {info['n_iter']} {'epochs' if info.get('batch_size') else 'iterations'}, "
        f"lambda {info['lam']:g}{''.join(', ' + extra for extra in extras)}, on {info['n_train']} "
        f"of scikit-learn's embedded 8x8 digits (the other {DEFAULT_TEST_COUNT} are the test "
        "digits). It reads tidy drawings; for better results train one on MNIST (digitnet train) "
        "and serve that: digitnet serve MODEL."
    )


class _Reader:
    """Everything the routes compute from the model, built once (pure: no module state)."""

    def __init__(self, model: Model, note: str, test_digits: Dataset | None) -> None:
        self.model = model
        self.classes = [_plain(c) for c in model.labels.classes]
        self.test_digits = test_digits
        self.test_X: np.ndarray | None = None
        if test_digits is not None:
            # 28x28 MNIST digits are resized for any model, as the page resizes drawings.
            mnist = tuple(test_digits.image_shape) == (28, 28)
            self.test_X = preprocess.as_model_rows(
                test_digits.X,
                test_digits.image_shape,
                test_digits.pixel_order,
                model,
                resize=mnist,
            )
        accuracy = None
        if test_digits is not None and self.test_X is not None:
            accuracy = float(np.mean(model.predict(self.test_X) == test_digits.y))
        activation, output = activation_and_output(model)
        self.card = ModelCard(
            layer_sizes=model.layer_sizes,
            activation=activation,
            output=output,
            architecture=describe(model),
            n_params=sum(theta.size for theta in model.thetas),
            classes=self.classes,
            image_shape=list(model.image_shape),
            pixel_order=model.pixel_order,
            dtype=str(model.dtype),
            note=note,
            info=_plain(model.info),
            history={str(name): _thin(column) for name, column in model.history.items()},
            test_data=None if test_digits is None else test_digits.name,
            test_count=None if test_digits is None else len(test_digits.y),
            test_accuracy=accuracy,
            digitnet_version=__version__,
        )
        # First-layer weights without the bias column, one image per hidden unit.
        w = np.asarray(model.thetas[0][:, 1:], dtype=np.float64)
        w = w / np.maximum(np.abs(w).max(axis=1, keepdims=True), 1e-12)
        images = model.images(w).reshape(len(w), -1)
        self.weights = Weights(image_shape=list(model.image_shape), units=_rounded(images, 3))

    def read(self, image: np.ndarray, *, ink_bright: bool) -> Prediction:
        """Preprocess one (h, w) image as ``digitnet predict`` does and run the network on it."""
        try:
            # The pad's strokes are bright on exact black: no paper level to guess from its
            # edges, which a digit drawn large touches.
            x = preprocess.prepare(
                image, self.model, invert=False if ink_bright else None, clean=ink_bright
            )
        except preprocess.ImageError as err:
            raise ApiError(422, f"the image cannot be read as a digit: {err}") from err
        x = np.asarray(x, dtype=self.model.dtype)[None, :]
        activations = self.model.activations(x)
        proba = self.model.predict_proba(x)[0]
        best = int(self.model.labels.encode(self.model.predict(x))[0])
        return Prediction(
            label=self.classes[best],
            probabilities={str(c): float(p) for c, p in zip(self.classes, proba)},
            outputs=_rounded(activations[-1][0], 6),
            hidden=[_rounded(a[0]) for a in activations[1:-1]],
            input=_rounded(self.model.images(x)[0]),
        )

    def samples(self, count: int, seed: int | None) -> Samples:
        if self.test_digits is None or self.test_X is None:
            return Samples(test_data=None, samples=[])
        rng = np.random.default_rng(seed)
        rows = rng.choice(len(self.test_X), size=min(count, len(self.test_X)), replace=False)
        X = self.test_X[rows]
        proba = self.model.predict_proba(X)
        best = self.model.labels.encode(self.model.predict(X))
        images = self.model.images(X)
        return Samples(
            test_data=self.test_digits.name,
            samples=[
                Sample(
                    index=int(row),
                    label=_plain(self.test_digits.y[row]),
                    predicted=self.classes[k],
                    probability=float(p[k]),
                    image=_rounded(image, 3),
                )
                for row, k, p, image in zip(rows, best, proba, images)
            ],
        )


# --- middleware ----------------------------------------------------------------------------------


async def _send_json(send, status: int, body: dict) -> None:
    payload = JSONResponse(body).body
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": payload})


class BodyLimit:
    """Pure ASGI middleware: refuse request bodies over ``limit`` bytes with 413 JSON.

    A declared Content-Length over the limit is refused before anything is read. Otherwise the
    body is read here, counting bytes as they stream in (a chunked upload declares no length), and
    handed to the application only once it is known to fit; 1 MiB is cheap to hold.
    """

    def __init__(self, app, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = {"error": f"request body is over the limit of {self.limit} bytes"}
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > self.limit:
                    await _send_json(send, 413, too_large)
                    return
            except ValueError:
                await _send_json(send, 400, {"error": "Content-Length is not a number"})
                return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await _send_json(send, 413, too_large)
                return
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as usual

        await self.app(scope, replay, send)


class SecurityHeaders:
    """Pure ASGI middleware: headers that keep the page self-contained and unframed."""

    HEADERS = (
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        # The page is one file with its script and style inline; nothing may come from elsewhere.
        (
            b"content-security-policy",
            b"default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
            b"img-src 'self' data: blob:; connect-src 'self'; base-uri 'none'; "
            b"form-action 'none'; frame-ancestors 'none'",
        ),
    )

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --- the application -----------------------------------------------------------------------------


def _validation_error(errors: Sequence[Mapping[str, Any]], where: str = "") -> JSONResponse:
    """422 naming the first problem; ``detail`` lists at most 20, without echoing the input."""
    detail: list[dict[str, Any]] = [
        {
            "loc": [str(part) for part in e.get("loc", ())],
            # pydantic prefixes a validator's own message; the message alone reads better
            "msg": str(e.get("msg", "")).removeprefix("Value error, "),
            "type": e.get("type", ""),
        }
        for e in errors[:20]
    ]
    first: dict[str, Any] = detail[0] if detail else {"loc": [], "msg": "invalid request"}
    place = ".".join(p for p in [where, *first["loc"]] if p)
    message = f"{place}: {first['msg']}" if place else first["msg"]
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problems)"
    return JSONResponse({"error": message, "detail": detail}, status_code=422)


def create_app(
    model: Model,
    *,
    note: str = "",
    test_digits: Dataset | None = None,
    allow_origins: Sequence[str] = (),
) -> FastAPI:
    """Build the web application for one model.

    Parameters
    ----------
    model : Model
        The network to show; any layer sizes, image shape and labels.
    note : str
        Shown on the page and in the model card, e.g. how the model came to be served.
    test_digits : Dataset, optional
        Labelled digits for the "test digits" tab, in the model's image shape (any pixel order).
    allow_origins : sequence of str
        Origins allowed to call the API from other pages (CORS). Empty, the default, sends no CORS
        headers, so only the page served here can read the API's answers.

    Returns
    -------
    FastAPI
        An ASGI application; run it with :func:`serve` or any ASGI server.
    """
    reader = _Reader(model, note, test_digits)
    page = resources.files("digitnet.web").joinpath("static/index.html").read_text("utf-8")

    app = FastAPI(
        title="digitnet",
        version=__version__,
        description="Draw a digit and watch a neural network read it.",
        docs_url=None,  # Swagger UI and ReDoc load scripts from a CDN; the schema is enough
        redoc_url=None,
    )
    if allow_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware, allow_origins=list(allow_origins), allow_methods=["GET", "POST"]
        )
    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_error(exc.errors())

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )

    @app.get("/", include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/healthz", response_model=Health, summary="Liveness probe")
    def healthz() -> Health:
        return Health(status="ok")

    @app.get("/api/model", response_model=ModelCard, summary="The model card")
    def model_card() -> ModelCard:
        return reader.card

    @app.get("/api/weights", response_model=Weights, summary="First-layer weight images")
    def weights() -> Weights:
        return reader.weights

    @app.get("/api/samples", response_model=Samples, summary="Random test digits, predicted")
    def samples(
        count: Annotated[int, Query(ge=1, le=MAX_SAMPLES)] = 24,
        seed: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    ) -> Samples:
        return reader.samples(count, seed)

    request_body = {
        "required": True,
        "content": {
            "application/json": {"schema": PixelImage.model_json_schema()},
            "image/png": {"schema": {"type": "string", "format": "binary"}},
            "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }

    @app.post(
        "/api/predict",
        response_model=Prediction,
        summary="Read one image",
        description="JSON pixels (ink bright on black, values in [0, 1]), a raw PNG or JPEG "
        "body, or a multipart upload with the PNG or JPEG in `file`. Images up to "
        f"{MAX_SIDE}x{MAX_SIDE}, bodies up to {MAX_BODY_BYTES} bytes. JSON pixels are read as "
        "ink bright on a background of exactly 0, as the drawing pad sends them; a PNG or "
        "JPEG may be either way round (the border decides, as in `digitnet predict`).",
        openapi_extra={"requestBody": request_body},
        responses=_ERRORS,
    )
    async def predict(request: Request) -> Prediction | JSONResponse:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media == "application/json":
            try:
                parsed = PixelImage.model_validate_json(await request.body())
            except ValidationError as err:
                return _validation_error(err.errors(include_input=False), "body")
            image = np.asarray(parsed.pixels, dtype=np.float64).reshape(parsed.height, parsed.width)
            ink_bright = True
        elif media in ("image/png", "image/jpeg"):
            image, ink_bright = _decode_image(await request.body()), False
        elif media == "multipart/form-data":
            # One file, one field: a form of thousands of tiny parts is refused early (400).
            async with request.form(max_files=1, max_fields=1) as form:
                upload = form.get("file")
                if not isinstance(upload, UploadFile):
                    raise ApiError(
                        422, "a multipart upload needs the image in a file field named 'file'"
                    )
                data = await upload.read()
            image, ink_bright = _decode_image(data), False
        else:
            raise ApiError(
                415,
                f"unsupported content type {media or '(none)'!r}: send application/json, "
                "image/png, image/jpeg or multipart/form-data",
            )
        # The forward pass is quick, but preprocessing a large image is not: keep the loop free.
        return await run_in_threadpool(reader.read, image, ink_bright=ink_bright)

    return app


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    model: Model | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    note: str = "",
    test_digits: Dataset | None = None,
    allow_origins: Sequence[str] = (),
    log_level: str = "info",
) -> None:
    """Serve the page and API with uvicorn until interrupted.

    Parameters
    ----------
    model : Model, optional
        The network to show. ``None`` trains :func:`default_model` first and says so on the page.
    host, port : str, int
        Where to listen. The default is this machine only; anything else is reachable from the
        network, which is logged as a warning.
    note : str
        Shown on the page (replaced by the default model's note when ``model`` is None).
    test_digits : Dataset, optional
        Labelled digits for the second tab, in the model's image shape.
    allow_origins : sequence of str
        CORS origins; none by default.
    log_level : str
        uvicorn's log level.
    """
    import uvicorn

    if model is None:
        logger.warning("no model given: training one on the embedded 8x8 digits")
        model, default_digits, note = default_model()
        test_digits = default_digits if test_digits is None else test_digits
    if not _is_loopback(host):
        logger.warning("listening on %s: the page and API are reachable from the network", host)
    app = create_app(model, note=note, test_digits=test_digits, allow_origins=allow_origins)
    listening = listen(host, port)  # first: a port in use is one line of error, nothing else
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, server_header=False)
    # After Config, which sets up uvicorn's loggers: the line comes with its start-up lines.
    logging.getLogger("uvicorn.error").info("serving a %s network", describe(model))
    uvicorn.Server(config).run(sockets=[listening])


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``, or an ``OSError`` whose message says which port is taken.

    Bound here rather than by uvicorn, which logs a port in use and exits with its own code.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # only skips TIME_WAIT
    try:
        listening.bind((host, port))
    except OSError as err:
        listening.close()
        reason = err.strerror or str(err)
        raise OSError(f"cannot listen on {host} port {port}: {reason.lower()}") from err
    return listening
