(ns pets-clj.core
  "The JVM host's Clojure test Func: functions of a request map."
  (:import [java.util.logging Logger]))

(def ^:private log (Logger/getLogger "pets-clj"))

(defn get-pet [{:keys [parameters request-id]}]
  (.info log (str "looking up pet " (:petId parameters)))
  (if (= 1 (:petId parameters))
    {:id 1 :name "Rex" :kind :dog :request-id request-id}
    (throw (ex-info (str "no pet " (:petId parameters)) {:status 404}))))

(defn add-pet [{:keys [body]}]
  {:status 201 :headers {"Location" "/pets/2"} :body {:id 2 :name (:name body)}})

(defn boom [_]
  (throw (IllegalStateException. "clojure says no")))
