// Peel's only entry script, loaded as <script type="module" src="/static/peel.js">.
// No inline script anywhere: the Content-Security-Policy forbids it.
import { initAll } from './vendor/govuk/govuk-frontend.min.js'

// A browser that runs ES modules supports GOV.UK Frontend's JavaScript.
document.body.classList.add('js-enabled', 'govuk-frontend-supported')

initAll()
