/* Propusk: the face photo from the device's camera (desk tablets, laptops, phones).
 *
 * Progressive enhancement of the photo's file input (visitors/_visitor_fields.html): where
 * the browser offers a camera (getUserMedia: HTTPS or localhost), "Take a photo with the
 * camera" shows a live preview; "Take the photo" puts a JPEG of the frame into the file input
 * (DataTransfer), as if the file had been chosen, so the form, the server-side face check and
 * everything after it are the same; "Retake" starts again. Without a camera the button is not
 * offered; when permission is refused, a message says so; the file input stays either way.
 */
(function () {
  "use strict";

  var JPEG_QUALITY = 0.92;

  function canUseCamera() {
    return !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia &&
      window.DataTransfer && window.HTMLCanvasElement);
  }

  function setUp(box) {
    var input = document.getElementById(box.dataset.cameraFor);
    if (!input || !canUseCamera()) { return; }
    var video = box.querySelector(".camera-video");
    var status = box.querySelector(".camera-status");
    var start = box.querySelector(".camera-start");
    var take = box.querySelector(".camera-take");
    var retake = box.querySelector(".camera-retake");
    var close = box.querySelector(".camera-close");
    var stream = null;

    function show(element, visible) { element.hidden = !visible; }

    function stop() {
      if (stream) {
        stream.getTracks().forEach(function (track) { track.stop(); });
        stream = null;
      }
      video.srcObject = null;
      show(video, false);
      show(take, false);
      show(close, false);
    }

    function open() {
      status.textContent = "";
      show(start, false);
      show(retake, false);
      navigator.mediaDevices.getUserMedia({
        video: { facingMode: "user", width: { ideal: 1280 }, height: { ideal: 960 } },
        audio: false
      }).then(function (media) {
        stream = media;
        video.srcObject = media;
        show(video, true);
        show(take, true);
        show(close, true);
        return video.play();
      }).catch(function () {
        stop();
        status.textContent = box.dataset.unavailable;
        show(start, true);
      });
    }

    function capture() {
      if (!stream || !video.videoWidth) { return; }
      var canvas = document.createElement("canvas");
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
      canvas.toBlob(function (blob) {
        if (!blob) { return; }
        var file = new File([blob], "camera.jpg", { type: "image/jpeg", lastModified: Date.now() });
        var transfer = new DataTransfer();
        transfer.items.add(file);
        input.files = transfer.files;
        // The usual preview (app.js) and anything else listening see a chosen file.
        input.dispatchEvent(new Event("change", { bubbles: true }));
        stop();
        status.textContent = box.dataset.taken;
        show(retake, true);
      }, "image/jpeg", JPEG_QUALITY);
    }

    start.addEventListener("click", open);
    retake.addEventListener("click", open);
    take.addEventListener("click", capture);
    close.addEventListener("click", function () { stop(); show(start, true); });
    // A file chosen by hand replaces a photo taken: the camera steps aside.
    input.addEventListener("change", function (event) {
      if (event.isTrusted) { stop(); status.textContent = ""; show(retake, false); show(start, true); }
    });
    window.addEventListener("pagehide", stop);
    // Offer the camera only where there is one (a desk PC without a webcam keeps the plain
    // file input); the kinds of devices are known before any permission is asked.
    if (navigator.mediaDevices.enumerateDevices) {
      navigator.mediaDevices.enumerateDevices().then(function (devices) {
        box.hidden = !devices.some(function (device) { return device.kind === "videoinput"; });
      }).catch(function () { box.hidden = false; });
    } else {
      box.hidden = false;
    }
  }

  document.querySelectorAll(".camera[data-camera-for]").forEach(setUp);
})();
